"""Written reflections and corrected transcripts, through the real command and SQLite on disk."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from selfkind.journal.store import STATUS_DONE, Entry, Journal
from selfkind.journal.written import WRITTEN

from .test_guide import _end_in_terminal, _read_until, _spawn_in_terminal


def _selfkind(
    *args: str, text: str = "", env: dict[str, str] | None = None
) -> tuple[int, str, str]:
    """The command with ``text`` piped to its standard input."""
    result = subprocess.run(
        [sys.executable, "-m", "selfkind", *args],
        input=text, capture_output=True, text=True, timeout=60,
        env={**os.environ, **(env or {})},
    )  # fmt: skip
    return result.returncode, result.stdout, result.stderr


def test_a_piped_reflection_is_kept_searched_exported_and_deleted(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    journal = ("--journal", str(path))
    code, out, err = _selfkind(
        "journal", "write", "--prompt", "What do I need today?", *journal,
        text="Some rest, and a walk by the river.\n",
    )  # fmt: skip
    assert code == 0 and "Kept as journal entry 1." in out, err
    with Journal(path) as store:
        entry = store.get(1)
        assert entry is not None
        assert entry.transcript == "Some rest, and a walk by the river."
        assert (entry.prompt, entry.engine, entry.status, entry.audio) == (
            "What do I need today?", WRITTEN, STATUS_DONE, ""
        )  # fmt: skip
    code, out, _ = _selfkind("journal", "search", "river", *journal)
    assert code == 0 and out.split()[0] == "1"
    code, out, _ = _selfkind("journal", "export", *journal)
    assert "> What do I need today?" in out and "a walk by the river" in out
    code, out, _ = _selfkind("journal", "delete", "1", "--yes", *journal)
    assert code == 0
    code, out, _ = _selfkind("journal", "search", "river", *journal)
    assert out.startswith("Nothing in your journal matches 'river'")
    # Nothing typed: nothing kept.
    code, out, _ = _selfkind("journal", "write", *journal, text="  \n")
    assert code == 0 and "nothing was kept" in out
    with Journal(path) as store:
        assert store.entries() == []


def test_a_reflection_written_in_the_editor(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    os.environ["EDITOR"] = 'sh -c \'printf "Kind words, typed slowly.\\n" >> "$0"\''
    try:
        pid, fd = _spawn_in_terminal(
            "journal", "write", "--prompt", "What went well?", "--journal", str(path)
        )
        seen = _read_until(fd, "Kept as journal entry", 20)
        code = _end_in_terminal(pid, 15)
        os.close(fd)
    finally:
        del os.environ["EDITOR"]
    assert code == 0, seen
    with Journal(path) as store:
        [entry] = store.entries()
    # The guidance lines (with the prompt) are not kept; the prompt is kept as the prompt.
    assert (entry.transcript, entry.prompt) == ("Kind words, typed slowly.", "What went well?")
    assert not list(tmp_path.glob("draft-*"))


def test_an_editor_that_fails_keeps_the_draft_and_says_where(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    os.environ["EDITOR"] = "sh -c 'echo half a thought >> \"$0\"; exit 3'"
    try:
        pid, fd = _spawn_in_terminal("journal", "write", "--journal", str(path))
        seen = _read_until(fd, "draft is in", 20)
        code = _end_in_terminal(pid, 15)
        os.close(fd)
    finally:
        del os.environ["EDITOR"]
    assert code == 1 and "status 3" in seen
    [draft] = tmp_path.glob("draft-*.md")
    assert "half a thought" in draft.read_text() and draft.stat().st_mode & 0o777 == 0o600
    with Journal(path) as store:
        assert store.entries() == []


def test_a_corrected_transcript_keeps_what_was_heard_beside_it(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    journal = ("--journal", str(path))
    with Journal(path) as store:
        entry_id = store.add(
            Entry("2026-11-28T10:00:00+00:00", transcript="I was doing the vest I could",
                  engine="vosk", status=STATUS_DONE)
        )  # fmt: skip
    code, out, err = _selfkind("journal", "edit", str(entry_id), *journal,
                               text="I was doing the best I could.")  # fmt: skip
    assert code == 0 and "corrected" in out, err
    code, out, err = _selfkind("journal", "edit", str(entry_id), *journal,
                               text="I was doing the best I could, truly.")  # fmt: skip
    code, out, _ = _selfkind("journal", "show", str(entry_id), *journal)
    assert "I was doing the best I could, truly." in out
    assert "Heard first (before your correction): I was doing the vest I could" in out
    code, out, _ = _selfkind("journal", "search", "truly", *journal)
    assert out.split()[0] == str(entry_id)
    code, _, err = _selfkind("journal", "edit", "99", *journal, text="x")
    assert code == 2 and err.startswith("journal edit: there is no entry '99'")
    assert _selfkind("journal", "delete", str(entry_id), "--yes", *journal)[0] == 0
    raw = sqlite3.connect(path)
    assert raw.execute("SELECT COUNT(*) FROM originals").fetchone() == (0,)
    raw.close()
