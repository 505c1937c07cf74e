"""journal write and journal edit: reflections typed by the person, and corrected transcripts."""

from __future__ import annotations

import argparse
import os
import sys

from ..errors import UsageError
from ..journal.store import Journal
from ..journal.written import compose, keep_written, now_iso
from .common import EXIT_OK


def _text(store: Journal, prompt: str, current: str) -> str:
    """The person's words: piped in, else from $VISUAL or $EDITOR, else typed here."""
    if not sys.stdin.isatty():
        return sys.stdin.read().strip()
    editor = os.environ.get("VISUAL") or os.environ.get("EDITOR")
    if editor:
        return compose(editor, store.path.parent, prompt, current)
    if prompt:
        print(prompt)
    print("Write here, and press Ctrl-D on a line of its own when you are done.")
    return sys.stdin.read().strip()


def journal_write(args: argparse.Namespace, store: Journal) -> int:
    if args.argument:
        raise UsageError("journal write", "give the prompt with --prompt; the text comes after")
    text = _text(store, args.prompt or "", "")
    if not text:
        print("Nothing was written, so nothing was kept.")
        return EXIT_OK
    entry_id = keep_written(store, text, args.prompt or "")
    print(f"Kept as journal entry {entry_id}.")
    return EXIT_OK


def journal_edit(args: argparse.Namespace, store: Journal) -> int:
    from .listen import _entry_named

    entry = _entry_named(store, "edit", args.argument)
    entry_id = entry.id
    text = _text(store, entry.prompt, entry.transcript)
    if not text:
        print(f"Nothing was written, so entry {entry_id} is unchanged.")
        return EXIT_OK
    if text == entry.transcript:
        print(f"Entry {entry_id} is unchanged.")
        return EXIT_OK
    store.correct(entry_id, text, now_iso())
    print(f"Entry {entry_id} corrected; what was heard first is kept beside it.")
    return EXIT_OK
