"""Exports of the journal: Markdown that reads like a diary, or JSON; both carry the
reflections and the history of sessions, and are written as privately as the journal itself."""

from __future__ import annotations

import json
import stat
from dataclasses import asdict
from pathlib import Path

from ..errors import UsageError
from ..files import replacing, writing
from .history import History, Sitting, sessions_markdown
from .store import STATUS_PENDING, Entry, Journal


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


def export_json(entries: list[Entry], sittings: list[Sitting]) -> str:
    """One object, ``{"entries": [...], "sessions": [...]}``: every entry's fields (words
    with their times) and every session as the history keeps it, oldest first."""
    whole = {
        "entries": [asdict(e) for e in entries],
        "sessions": [asdict(s) for s in sittings],
    }
    return json.dumps(whole, indent=2, ensure_ascii=False) + "\n"


def export_journal(journal: Journal, fmt: str) -> str:
    """The whole journal in ``fmt`` (``md`` or ``json``), as the CLI and the web page give it."""
    entries, sittings = journal.entries(), History(journal).sittings()
    if fmt == "json":
        return export_json(entries, sittings)
    return export_markdown(entries) + sessions_markdown(sittings)


def write_private(path: Path, text: str) -> None:
    """An export of the journal is as private as the journal: 0600, written atomically.

    Only a new file or a regular one is replaced: the rename would turn a device, a
    symbolic link (to a terminal, say) or a folder into a file holding the whole journal.
    """
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        mode = None
    except OSError as err:
        raise UsageError("-o", f"{path}: {err.strerror}") from None
    if mode is not None and not stat.S_ISREG(mode):
        kind = _KINDS.get(stat.S_IFMT(mode), "not a regular file")
        raise UsageError(
            "-o",
            f"{path} is {kind}; an export replaces only a regular file"
            " (give a new file name, or -o - for standard output)",
        )
    try:
        with writing(path), replacing(path, 0o600) as temp:  # a full disk: CannotWrite
            temp.write_text(text, encoding="utf-8")
    except (PermissionError, NotADirectoryError, IsADirectoryError) as err:
        raise UsageError("-o", f"cannot write {path}: {err.strerror}") from None


_KINDS = {
    stat.S_IFLNK: "a symbolic link",
    stat.S_IFDIR: "a folder",
    stat.S_IFCHR: "a device",
    stat.S_IFBLK: "a device",
    stat.S_IFIFO: "a pipe",
    stat.S_IFSOCK: "a socket",
}
