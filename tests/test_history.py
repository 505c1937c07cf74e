"""A gentle history: sessions kept in the journal database, by week, and resuming a session."""

from __future__ import annotations

import datetime as dt
import json
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from selfkind.journal.history import HeardClock, History, Sitting, by_week
from selfkind.journal.store import Journal
from selfkind.render import load_script, prepare_session

from .conftest import cli

SCRIPT = """---
title: History Test
---
# One
The first part.
[pause 1s]
# Two
The second part.
[pause 3s]
# Three
The end.
"""


def _sitting(started_at: str, heard_s: float, stopped_at_s: float | None = None) -> Sitting:
    return Sitting(
        started_at, started_at, "guide", "A Practice", 1200.0, heard_s, stopped_at_s=stopped_at_s
    )


def test_the_heard_clock_counts_listening_not_pauses_or_skips() -> None:
    clock = HeardClock()
    for position_s in (0.0, 0.2, 0.4, 0.4, 0.4, 0.6, 30.0, 30.2, 5.0, 5.2):
        clock.look(position_s)
    assert clock.heard_s == pytest.approx(1.0)


def test_sessions_by_week_and_deleted_from_the_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "journal.sqlite3"
    with Journal(path) as store:
        history = History(store)
        for started_at, heard_s in (
            ("2026-11-16T09:00:00+00:00", 300.0),  # Monday
            ("2026-11-22T21:00:00+00:00", 600.0),  # Sunday, same week
            ("2026-11-23T07:30:00+00:00", 1200.0),  # Monday, next week
        ):
            history.add(_sitting(started_at, heard_s))
        weeks = by_week(history.sittings())
    assert [(w.monday.isoformat(), w.minutes) for w in weeks] == [
        ("2026-11-16", 15.0),
        ("2026-11-23", 20.0),
    ]
    code, out, _ = cli(capsys, "history", "--journal", str(path))
    assert code == 0
    assert "Week of 16 Nov 2026: 2 sessions, 15 minutes" in out
    assert "Week of 23 Nov 2026: 1 session, 20 minutes" in out
    assert "streak" not in out.lower()
    code, out, _ = cli(capsys, "journal", "export", "--journal", str(path))
    assert "# Sessions" in out and "## Week of 23 November 2026: 20 minutes" in out
    assert "- Mon 23 Nov 07:30 · A Practice: 20 of 20 min" in out
    code, out, _ = cli(capsys, "journal", "export", "--format", "json", "--journal", str(path))
    exported = json.loads(out)
    assert code == 0 and exported["entries"] == []
    assert [
        (s["id"], s["started_at"], s["heard_s"], s["practice"]) for s in exported["sessions"]
    ] == [
        (1, "2026-11-16T09:00:00+00:00", 300.0, "A Practice"),
        (2, "2026-11-22T21:00:00+00:00", 600.0, "A Practice"),
        (3, "2026-11-23T07:30:00+00:00", 1200.0, "A Practice"),
    ]
    code, _, err = cli(capsys, "history", "delete", "2", "--journal", str(path))
    assert code == 2 and "add --yes" in err  # no terminal to ask on: nothing deleted
    assert cli(capsys, "history", "delete", "2", "--yes", "--journal", str(path))[0] == 0
    code, _, err = cli(capsys, "history", "delete", "2", "--yes", "--journal", str(path))
    assert code == 2 and "no session '2'" in err
    code, out, _ = cli(capsys, "history", "delete", "--all", "-y", "--journal", str(path))
    assert code == 0 and "Deleted 2 sessions" in out
    raw = sqlite3.connect(path)
    assert raw.execute("SELECT COUNT(*) FROM sessions").fetchone() == (0,)
    raw.close()


def test_resume_is_offered_for_a_day(tmp_path: Path) -> None:
    now = dt.datetime(2026, 11, 28, 12, 0, tzinfo=dt.UTC)
    with Journal(tmp_path / "journal.sqlite3") as store:
        history = History(store)
        assert history.to_resume(now) is None
        history.add(_sitting("2026-11-27T13:00:00+00:00", 60.0, stopped_at_s=42.0))
        assert history.to_resume(now) is not None
        assert history.to_resume(now + dt.timedelta(hours=2)) is None  # more than 24 h since
        history.add(_sitting("2026-11-28T11:00:00+00:00", 600.0))  # then finished one
        assert history.to_resume(now) is None


def _guide_until(args: list[str], wanted: str, then_s: float) -> tuple[int, str, str]:
    """Run the guide, wait for a caption, let it play ``then_s`` more, then Ctrl-C."""
    process = subprocess.Popen(
        [sys.executable, "-m", "selfkind", "guide", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert process.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not any(wanted in line for line in lines):
        lines.append(process.stdout.readline())
    assert any(wanted in line for line in lines), lines
    time.sleep(then_s)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=15)
    return process.returncode, "".join(lines) + out, err


@pytest.mark.live_s(21)
def test_a_stopped_session_is_kept_with_the_time_heard_and_resumed(
    sound_server: str, tmp_path: Path
) -> None:
    script = tmp_path / "history.md"
    script.write_text(SCRIPT)
    timeline = prepare_session(load_script(str(script))).timeline  # speech in the cache
    two = next(e for e in timeline.of_kind("section") if e.text == "Two")
    journal = ["--journal", str(tmp_path / "journal.sqlite3")]
    started = time.monotonic()
    code, out, err = _guide_until([str(script), "--delay", "0", *journal], "The second part.", 2)
    played_s = time.monotonic() - started
    assert code == 130, (out, err)
    assert 'To carry on from "Two" within a day: selfkind guide --resume' in out
    with Journal(tmp_path / "journal.sqlite3") as store:
        [stopped] = History(store).sittings()
    assert stopped.stopped_in == "Two", stopped
    assert stopped.stopped_at_s == pytest.approx(two.start_s), stopped
    assert stopped.length_s == pytest.approx(timeline.duration_s)
    # What was heard: from the first word to the stop, never more than the time it ran.
    assert two.start_s + 1 < stopped.heard_s < played_s, (stopped, played_s)

    process = subprocess.run(
        [sys.executable, "-m", "selfkind", "guide", "--resume", "--delay", "0", *journal],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert process.returncode == 0, (process.stdout, process.stderr)
    assert 'Carrying on with History Test at "Two"' in process.stdout
    assert "The second part." in process.stdout and "The first part." not in process.stdout
    assert "session has ended" in process.stdout
    with Journal(tmp_path / "journal.sqlite3") as store:
        first, resumed = History(store).sittings()
    assert resumed.stopped_at_s is None, resumed
    assert resumed.heard_s == pytest.approx(timeline.duration_s - two.start_s, abs=1.0), resumed
    code = subprocess.run(
        [sys.executable, "-m", "selfkind", "guide", "--resume", *journal],
        capture_output=True, text=True, timeout=60,
    ).returncode  # fmt: skip
    assert code == 2
