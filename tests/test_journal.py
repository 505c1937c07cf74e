"""The private journal: real SQLite on disk (WAL, FTS5), its privacy and its commands."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
from pathlib import Path

import pytest

from selfkind.errors import JournalError
from selfkind.journal.store import STATUS_DONE, Entry, Journal

from .conftest import cli, run

WORDS = [{"word": "kind", "start_s": 0.4, "end_s": 0.7, "confidence": 0.93}]


def _fill(journal: Journal) -> list[int]:
    entries = [
        Entry("2026-11-20T08:15:00+00:00", "Self-Compassion Break", "What would you say to a friend?",
              transcript="I would tell her that she is doing her best.", status=STATUS_DONE,
              words=WORDS, engine="vosk", model="small", audio="1.flac", duration_s=6.5),
        Entry("2026-11-21T21:40:00+00:00", "The Best I Could", "What would you like to say?",
              transcript="I was tired and frightened, and I did what I could.", status=STATUS_DONE),
        Entry("2026-11-22T07:00:00+00:00", "Quiet Sitting", "Anything to note?"),
    ]  # fmt: skip
    ids = [journal.add(entry) for entry in entries]
    (journal.audio_dir / "1.flac").write_bytes(b"fLaC audio")
    return ids


def test_entries_round_trip_and_search_finds_words(tmp_path: Path) -> None:
    with Journal(tmp_path / "j" / "journal.sqlite3") as journal:
        first, second, third = _fill(journal)
        entry = journal.get(first)
        assert entry is not None and entry.words == WORDS and entry.duration_s == 6.5
        assert [e.id for e in journal.search("doing best")] == [first]
        assert [e.id for e in journal.search("frighten")] == [second]  # word beginnings match
        assert {e.id for e in journal.search("what would")} == {first, second}  # prompts too
        assert journal.search("holiday") == []
        assert [e.id for e in journal.entries("pending")] == [third]
        journal.update_transcript(third, "Calm today.", [], "pocketsphinx", "en-us")
        assert journal.get(third).status == STATUS_DONE
        assert [e.id for e in journal.search("calm")] == [third]


def test_delete_removes_row_index_and_audio(tmp_path: Path) -> None:
    with Journal(tmp_path / "journal.sqlite3") as journal:
        first, *_ = _fill(journal)
        audio = journal.audio_dir / "1.flac"
        assert journal.delete(first) and not audio.exists()
        assert journal.get(first) is None and journal.search("doing best") == []
    raw = sqlite3.connect(tmp_path / "journal.sqlite3")
    assert raw.execute(
        "SELECT count(*) FROM entries_fts WHERE entries_fts MATCH 'doing'"
    ).fetchone() == (0,)


def test_the_journal_is_private_on_disk(tmp_path: Path) -> None:
    folder = tmp_path / "private"
    with Journal(folder / "journal.sqlite3") as journal:
        _fill(journal)
        for path in (folder, journal.audio_dir):
            assert stat.S_IMODE(path.stat().st_mode) == 0o700
        for path in folder.glob("journal.sqlite3*"):
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_a_journal_held_by_another_process_gives_a_clear_error(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "journal.sqlite3"
    Journal(path).close()
    holder = sqlite3.connect(path)
    holder.execute("BEGIN EXCLUSIVE")
    monkeypatch.setattr("selfkind.journal.store.BUSY_TIMEOUT_S", 0.2)
    with pytest.raises(JournalError, match="in use by another selfkind process"):
        Journal(path).add(Entry("2026-11-22T07:00:00+00:00"))
    holder.rollback()
    with Journal(path) as journal:  # nothing was corrupted
        assert journal.entries() == []


def test_journal_commands(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "journal.sqlite3"
    with Journal(path) as journal:
        first, *_ = _fill(journal)
    code, out, _ = cli(capsys, "journal", "list", "--journal", str(path))
    assert code == 0 and "doing her best" in out and "(pending)" in out
    code, out, _ = cli(capsys, "journal", "search", "frightened", "--journal", str(path))
    assert code == 0 and "I was tired" in out and "doing her best" not in out
    export = tmp_path / "diary.md"
    assert cli(capsys, "journal", "export", "-o", str(export), "--journal", str(path))[0] == 0
    diary = export.read_text()
    assert "## 2026-11-20 08:15 · Self-Compassion Break" in diary
    assert "> What would you say to a friend?" in diary and "not transcribed yet" in diary
    assert stat.S_IMODE(export.stat().st_mode) == 0o600
    code, out, _ = cli(capsys, "journal", "export", "--format", "json", "--journal", str(path))
    exported = json.loads(out)
    assert exported["entries"][0]["words"] == WORDS and exported["sessions"] == []
    code, out, _ = cli(capsys, "journal", "delete", str(first), "--yes", "--journal", str(path))
    assert code == 0 and "Deleted entry" in out
    code, _, err = cli(capsys, "journal", "show", str(first), "--journal", str(path))
    assert code == 2 and "no entry" in err


def test_pending_entries_are_transcribed_later(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An entry kept without a transcript (no engine at the time) is transcribed afterwards."""
    fixtures = Path(__file__).resolve().parent.parent / "audio_fixtures"
    path = tmp_path / "journal.sqlite3"
    with Journal(path) as journal:
        entry_id = journal.add(Entry("2026-11-23T09:00:00+00:00", audio="1.flac"))
        (journal.audio_dir / "1.flac").write_bytes((fixtures / "reflection-3.flac").read_bytes())
    code, out, _ = cli(capsys, "journal", "transcribe", "--pending", "--engine", "pocketsphinx",
                       "--journal", str(path))  # fmt: skip
    assert code == 0 and out == f"{entry_id:4}  (transcribed)\n"  # not a terminal: no text
    with Journal(path) as journal:
        entry = journal.get(entry_id)
        assert entry.status == STATUS_DONE and entry.engine == "pocketsphinx" and entry.words
        assert "shoulders" in entry.transcript.lower()


def _files_holding(folder: Path, *words: str) -> dict[str, list[str]]:
    """Which files under ``folder`` still hold any of ``words`` in their raw bytes."""
    found = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        data = path.read_bytes().lower()
        hits = [w for w in words if w.lower().encode() in data]
        if hits:
            found[path.name] = hits
    return found


def test_delete_leaves_no_word_of_the_entry_in_any_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Not in the table, the FTS5 index segments, free pages or the WAL: before, every word
    stayed readable in the index pages after `journal delete`."""
    folder = tmp_path / "journal"
    path = folder / "journal.sqlite3"
    secret = ("Xylophonequartz", "Zanzibarprompt", "Quillmarrow")
    with Journal(path) as journal:
        for i in range(20):
            journal.add(Entry("2026-11-20T08:15:00+00:00", "Practice", f"Prompt {i}?",
                              transcript=f"ordinary words of day {i} " * 10, status=STATUS_DONE))  # fmt: skip
        entry_id = journal.add(
            Entry("2026-11-21T08:15:00+00:00", "Practice", "Zanzibarprompt, what hurts?",
                  transcript="my xylophonequartz secret " * 5, status=STATUS_DONE, audio="s.flac",
                  words=[{"word": "quillmarrow", "start_s": 0, "end_s": 1, "confidence": 1}]),
        )  # fmt: skip
        (journal.audio_dir / "s.flac").write_bytes(b"fLaC Xylophonequartz")
        for i in range(20):
            journal.add(Entry("2026-11-22T08:15:00+00:00", "Practice", f"Later {i}?",
                              transcript=f"later words {i} " * 10, status=STATUS_DONE))  # fmt: skip
    reader = sqlite3.connect(path)  # another process's idle connection keeps the WAL alive
    assert reader.execute("SELECT count(*) FROM entries").fetchone() == (41,)
    with Journal(path) as journal:
        journal.add(Entry("2026-11-23T08:15:00+00:00", transcript="one more", status=STATUS_DONE))
    before = _files_holding(folder, *secret)
    assert before["journal.sqlite3"] == list(secret) and "journal.sqlite3-wal" in before
    code, out, err = cli(
        capsys, "journal", "delete", str(entry_id), "--yes", "--journal", str(path)
    )
    assert code == 0, err
    assert _files_holding(folder, *secret) == {}
    assert (folder / "journal.sqlite3-wal").exists()  # the WAL was there, and is empty
    with Journal(path) as journal:  # the rest is whole and still found
        assert len(journal.entries()) == 41 and len(journal.search("ordinary")) == 20
        assert journal.search("xylophonequartz") == []
    assert reader.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    reader.close()


def test_delete_beside_a_reading_process_says_what_remains(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "journal.sqlite3"
    with Journal(path) as journal:
        first, *_ = _fill(journal)
    reader = sqlite3.connect(path)
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM entries").fetchone()  # a read in progress
    monkeypatch.setattr("selfkind.journal.store.BUSY_TIMEOUT_S", 0.2)
    with Journal(path) as journal, pytest.raises(JournalError, match="is deleted, but another"):
        journal.delete(first)
    reader.rollback()
    reader.close()
    with Journal(path) as journal:
        assert journal.get(first) is None
    assert _files_holding(tmp_path, "doing", "friend") == {}  # emptied when the last one closed


def test_an_existing_folder_is_never_changed_and_a_shared_one_is_said(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Before, `--journal /tmp/j.sqlite3` made /tmp 0700 and took away its sticky bit."""
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)  # like /tmp
    path = shared / "journal.sqlite3"
    for _ in range(2):
        code, _, err = cli(capsys, "journal", "list", "--journal", str(path))
        assert code == 0 and stat.S_IMODE(shared.stat().st_mode) == 0o1777
        (line,) = err.strip().splitlines()  # said once per command, in one line
        assert f"folder {shared} is open to other users (mode 1777)" in line
    assert stat.S_IMODE((shared / "audio").stat().st_mode) == 0o700  # made here: private
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    own = tmp_path / "mine"
    own.mkdir(mode=0o750)
    own.chmod(0o750)  # group may read: said, left
    code, _, err = cli(capsys, "journal", "list", "--journal", str(own / "journal.sqlite3"))
    assert code == 0 and "mode 750" in err and stat.S_IMODE(own.stat().st_mode) == 0o750
    nested = tmp_path / "new" / "deeper" / "journal.sqlite3"
    code, _, err = cli(capsys, "journal", "list", "--journal", str(nested))
    assert code == 0 and err == ""
    for folder in (tmp_path / "new", nested.parent, nested.parent / "audio"):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder


def test_export_replaces_only_a_regular_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Before, the rename turned a symlink to a terminal (or a device) into a file holding
    the whole journal."""
    path = tmp_path / "journal.sqlite3"
    with Journal(path) as journal:
        _fill(journal)
    target = tmp_path / "target.md"
    target.write_text("keep me")
    link = tmp_path / "to-stdout"
    link.symlink_to(target)
    folder = tmp_path / "a-folder"
    folder.mkdir()
    fifo = tmp_path / "a-pipe"
    os.mkfifo(fifo)
    for given, kind in ((link, "a symbolic link"), (folder, "a folder"), (fifo, "a pipe"),
                        (Path("/dev/null"), "a device")):  # fmt: skip
        code, out, err = cli(capsys, "journal", "export", "-o", str(given), "--journal", str(path))
        assert code == 2 and out == "", (given, err)
        assert err == f"-o: {given} is {kind}; an export replaces only a regular file (give a new file name, or -o - for standard output)\n"  # fmt: skip
    assert link.is_symlink() and target.read_text() == "keep me" and folder.is_dir()
    assert Path("/dev/null").is_char_device() and stat.S_ISFIFO(fifo.lstat().st_mode)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []
    code, out, _ = cli(capsys, "journal", "export", "-o", "-", "--journal", str(path))
    assert code == 0 and out.startswith("# Reflections") and not Path("-").exists()
    code, out, _ = cli(capsys, "journal", "export", "-o", str(target), "--journal", str(path))
    assert code == 0 and target.read_text().startswith("# Reflections")
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


def test_transcribing_pending_entries_goes_on_past_a_bad_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Before, the first unreadable recording ended the command and the rest stayed pending."""
    fixtures = Path(__file__).resolve().parent.parent / "audio_fixtures"
    path = tmp_path / "journal.sqlite3"
    with Journal(path) as journal:
        damaged = journal.add(Entry("2026-11-23T09:00:00+00:00", audio="damaged.flac"))
        missing = journal.add(Entry("2026-11-23T09:05:00+00:00", audio="gone.flac"))
        good = journal.add(Entry("2026-11-23T09:10:00+00:00", audio="good.flac"))
        (journal.audio_dir / "damaged.flac").write_bytes(b"fLaC" + bytes(5000))
        (journal.audio_dir / "good.flac").write_bytes((fixtures / "reflection-3.flac").read_bytes())
    code, out, err = cli(capsys, "journal", "transcribe", "--pending", "--engine", "pocketsphinx",
                         "--journal", str(path))  # fmt: skip
    assert code == 1 and "Traceback" not in err
    damaged_line, missing_line = err.strip().splitlines()
    assert (
        damaged_line.startswith(f"selfkind: entry {damaged}: ") and "not readable" in damaged_line
    )
    assert missing_line == f"selfkind: entry {missing}: no audio kept"
    assert out == f"{good:4}  (transcribed)\n"
    with Journal(path) as journal:
        assert [e.id for e in journal.entries("pending")] == [damaged, missing]
        assert journal.get(good).status == STATUS_DONE
        assert "shoulders" in journal.get(good).transcript.lower()


HOSTILE_QUERIES = ['"', 'a"b', 'tired"', "she\"s", "*", "AND", "NEAR(", "NEAR(a b)", "^tired",
                   "transcript:tired", "{transcript}", "()", "tired-", "+", "\\", "x\0y", "😀",
                   '"" ""', "a" * 3000]  # fmt: skip


def test_search_takes_words_literally_whatever_is_typed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Before, `journal search 'a"b'` said the journal "cannot be used", which reads like
    damage; FTS5's syntax is never the user's to know."""
    path = tmp_path / "journal.sqlite3"
    with Journal(path) as journal:
        first, second, _ = _fill(journal)
        quoted = journal.add(Entry("2026-11-24T07:00:00+00:00", transcript='She said "enough"',
                                   status=STATUS_DONE))  # fmt: skip
    for query in HOSTILE_QUERIES:
        code, _, err = cli(capsys, "journal", "search", query, "--journal", str(path))
        assert (code, err) == (0, ""), query
    with Journal(path) as journal:
        assert [e.id for e in journal.search('"enough"')] == [quoted]
        assert [e.id for e in journal.search('said "enough')] == [quoted]
        assert [e.id for e in journal.search('frightened"')] == [second]
        assert [e.id for e in journal.search("doing AND best")] == []  # AND is a word here
        assert [e.id for e in journal.search("doing best")] == [first]


def test_search_words_need_no_quotes_and_a_leading_dash_goes_after_double_dash(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`journal search WORDS` takes every word typed. One beginning with "-" reads as an
    option (or a mistyped one) unless it comes after ``--``, as in every Unix command; the
    message for it says so, with the command to type."""
    path = tmp_path / "journal.sqlite3"
    with Journal(path) as journal:
        first, *_ = _fill(journal)
        dashed = journal.add(Entry("2026-11-24T07:00:00+00:00", transcript="A half-hearted day.",
                                   status=STATUS_DONE))  # fmt: skip
    code, out, err = run("journal", "search", "-hearted", "--journal", str(path))
    assert (code, out) == (2, ""), err
    assert err.splitlines()[-1] == (
        "selfkind journal: not an option or argument it takes: -hearted; to search for words"
        " beginning with '-', put -- before them: selfkind journal search -- -hearted;"
        " see: selfkind journal --help"
    ), err
    for words in (["--", "-hearted"], ["--", "half", "-hearted"], ["day", "--", "-hearted"]):
        code, out, _ = cli(capsys, "journal", "search", "--journal", str(path), *words)
        assert code == 0 and [int(line.split()[0]) for line in out.splitlines()] == [dashed]
    code, out, _ = cli(capsys, "journal", "search", "doing", "best", "--journal", str(path))
    assert code == 0 and [int(line.split()[0]) for line in out.splitlines()] == [first], out
