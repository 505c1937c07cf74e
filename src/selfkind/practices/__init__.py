"""The built-in practice library: scripts shipped inside the package as ``<name>.md``."""

from __future__ import annotations

from importlib import resources


def practice_names() -> list[str]:
    files = resources.files(__name__)
    return sorted(e.name[:-3] for e in files.iterdir() if e.name.endswith(".md"))


def practice_text(name: str) -> bytes | None:
    """The script of a built-in practice as bytes, or None if there is none by that name."""
    entry = resources.files(__name__) / f"{name}.md"
    return entry.read_bytes() if entry.is_file() else None
