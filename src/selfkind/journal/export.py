"""Exports of the journal: Markdown that reads like a diary, or JSON; written as privately
as the journal itself."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from ..files import replacing
from .store import STATUS_PENDING, Entry


def export_markdown(entries: list[Entry]) -> str:
    """The journal as a diary: date, practice, the prompt, and what was said."""
    lines = ["# Reflections", ""]
    for entry in entries:
        date = entry.started_at.replace("T", " ")[:16]
        lines.append(f"## {date}" + (f" · {entry.practice}" if entry.practice else ""))
        lines.append("")
        if entry.prompt:
            lines += [f"> {entry.prompt}", ""]
        if entry.status == STATUS_PENDING and not entry.transcript:
            lines += ["*(recorded; not transcribed yet)*", ""]
        else:
            lines += [entry.transcript or "*(nothing was said)*", ""]
    return "\n".join(lines)


def export_json(entries: list[Entry]) -> str:
    return json.dumps([asdict(e) for e in entries], indent=2, ensure_ascii=False) + "\n"


def write_private(path: Path, text: str) -> None:
    """An export of the journal is as private as the journal: 0600, written atomically."""
    with replacing(path, 0o600) as temp:
        temp.write_text(text, encoding="utf-8")
