"""Reflections written rather than spoken, and corrections of what the recognizer heard.

A written reflection is an entry like a spoken one (searchable, exported, deleted alike), with
no audio and ``engine`` set to :data:`WRITTEN`. Drafts are written in the person's own editor,
in a file inside the journal's private folder, never in a shared temporary folder.
"""

from __future__ import annotations

import datetime as dt
import os
import shlex
import subprocess
from pathlib import Path

from ..errors import SelfkindError, SetupError
from .store import STATUS_DONE, Entry, Journal

WRITTEN = "written"
"""The ``engine`` of an entry typed by the person."""
NOTE_MARK = "#|"
"""Lines starting with this in a draft are guidance, not kept."""


def now_iso() -> str:
    return dt.datetime.now().astimezone().isoformat(timespec="seconds")


class EditorFailed(SelfkindError):
    """The editor stopped with an error; the draft is left where it was, named here."""


def draft_text(prompt: str, text: str) -> str:
    """What the editor opens on: the prompt and guidance as marked lines, then ``text``."""
    notes = [f"{NOTE_MARK} {prompt}"] if prompt else []
    notes.append(
        f"{NOTE_MARK} Write below, save and close the editor. Lines starting with {NOTE_MARK}"
        " are not kept; an empty text keeps nothing."
    )
    return "\n".join(notes) + "\n" + text


def cleaned(draft: str) -> str:
    """The draft without guidance lines and without blank lines around it."""
    lines = [line for line in draft.splitlines() if not line.startswith(NOTE_MARK)]
    return "\n".join(lines).strip()


def compose(editor: str, folder: Path, prompt: str = "", text: str = "") -> str:
    """Open ``editor`` (a command line, as in ``$EDITOR``) on a private draft; return what
    was written, guidance removed. The draft is removed afterwards unless the editor failed.
    """
    draft = folder / f"draft-{os.getpid()}.md"
    descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as out:
        out.write(draft_text(prompt, text))
    try:
        status = subprocess.run([*shlex.split(editor), str(draft)], check=False).returncode
    except FileNotFoundError:
        draft.unlink(missing_ok=True)
        raise SetupError(
            f"the editor '{editor}' was not found; set $EDITOR to one that is installed,"
            " or pipe the text in: echo '...' | selfkind journal write"
        ) from None
    if status != 0:
        raise EditorFailed(f"the editor stopped with status {status}; your draft is in {draft}")
    written = cleaned(draft.read_text(encoding="utf-8", errors="replace"))
    draft.unlink(missing_ok=True)
    return written


def keep_written(
    journal: Journal, text: str, prompt: str = "", practice: str = "", session_id: str = ""
) -> int:
    """Keep a written reflection as a journal entry; returns its id. ``session_id`` ties
    one typed during a guided session to the session's spoken ones."""
    entry = Entry(
        started_at=now_iso(),
        practice=practice,
        prompt=prompt,
        session_id=session_id,
        transcript=text,
        engine=WRITTEN,
        status=STATUS_DONE,
    )
    return journal.add(entry)
