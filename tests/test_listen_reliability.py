"""Nothing said is lost or leaked: a recording belongs to the process making it until it is
kept, only a dead owner's recording is recovered by another selfkind, and what was said is
shown on a terminal only."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from selfkind.errors import CannotWrite
from selfkind.journal.keep import recover
from selfkind.journal.store import Journal
from selfkind.listen.listener import Listener
from selfkind.listen.recognizers import open_recognizer
from selfkind.listen.recording import PARTIAL_SUFFIX, Context

from .conftest import FIXTURES, decode, run
from .soundserver import MIC, PipeMicrophone
from .test_capture import _start, _wait_for_line
from .test_guide import _end_in_terminal, _read_until, _spawn_in_terminal
from .test_limits import tmpfs

MIC_RATE_HZ = 16000


def _journal_list_loop(journal_path: Path, stop: Path) -> subprocess.Popen[str]:
    """Another process opening the journal as fast as it can, as `journal list` does
    (each opening recovers what it believes was cut off); it counts its rounds on stderr."""
    code = (
        "import os, sys\n"
        "from selfkind.cli import main\n"
        "rounds = 0\n"
        f"while not os.path.exists({str(stop)!r}):\n"
        f"    main(['journal', 'list', '--journal', {str(journal_path)!r}])\n"
        "    rounds += 1\n"
        "print('rounds', rounds, file=sys.stderr)\n"
    )
    return subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )


@pytest.mark.live_s(15)
def test_twenty_reflections_beside_a_journal_list_loop_are_all_kept(
    microphone: PipeMicrophone, tmp_path: Path
) -> None:
    """Before ownership was held until the entry was kept, the loop 'recovered' most of
    these while their owner was still transcribing (9 of 10 lost in one run)."""
    speech = decode(FIXTURES / "reflection-6.flac", MIC_RATE_HZ)[
        int(0.4 * MIC_RATE_HZ) : int(1.3 * MIC_RATE_HZ)
    ]  # "Thank you for ..."
    journal_path = tmp_path / "journal.sqlite3"
    Journal(journal_path).close()
    stop = tmp_path / "stop"
    loop = _journal_list_loop(journal_path, stop)
    results, errors = [], []
    try:
        for round_number in range(2):  # ten at once, twice: each owner races the loop
            listeners = [
                Listener(
                    journal_path,
                    lambda: open_recognizer("pocketsphinx"),
                    10.0,
                    Context(prompt=f"round {round_number}"),
                    end_silence_s=0.3,
                )  # fmt: skip
                for _ in range(10)
            ]
            for listener in listeners:
                listener.start()
            time.sleep(0.2)
            microphone.say(speech)
            for listener in listeners:
                assert listener.done.wait(30)
                results.append(listener.result)
                errors.append(listener.error)
    finally:
        stop.touch()
        _, loop_err = loop.communicate(timeout=30)
    assert errors == [None] * 20
    assert all(r is not None and r.status == "done" and r.transcript for r in results), results
    assert "cut off" not in loop_err, loop_err  # the loop recovered nothing that was alive
    assert int(loop_err.split("rounds")[-1]) >= 10, loop_err  # it really ran beside them
    with Journal(journal_path) as journal:
        entries = journal.entries()
        leftovers = list(journal.audio_dir.glob(f"*{PARTIAL_SUFFIX}*"))
    assert len(entries) == 20 and all(e.status == "done" and e.transcript for e in entries)
    assert sorted(e.id for e in entries) == sorted(r.entry_id for r in results)
    assert leftovers == []


def test_on_a_terminal_reflect_shows_what_was_kept(
    microphone: PipeMicrophone, tmp_path: Path
) -> None:
    """The other side of never printing a transcript into a log (see test_capture)."""
    speech = decode(FIXTURES / "reflection-3.flac", MIC_RATE_HZ)
    journal_path = tmp_path / "journal.sqlite3"
    pid, fd = _spawn_in_terminal("reflect", "--end-silence", "0.5s", "--journal", str(journal_path))
    try:
        assert "Listening" in _read_until(fd, "Listening", 20)
        microphone.say(speech)
        seen = _read_until(fd, "Kept in your", 30)
        seen += _read_until(fd, "\n", 5)
    finally:
        code = _end_in_terminal(pid, 15)  # never waits for ever on a test that failed
        os.close(fd)
    assert code == 0
    with Journal(journal_path) as journal:
        (entry,) = journal.entries()
    assert f"Kept in your journal as entry {entry.id}: {entry.transcript}" in seen, seen


@pytest.fixture()
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 1 MiB file system, so a full disk is a real ENOSPC (skipped, saying why,
    where one cannot be mounted)."""
    with tmpfs(tmp_path / "disk", 1 << 20) as mount_point:
        yield mount_point


def _leave_free(disk: Path, free_bytes: int) -> Path:
    """Fill ``disk`` until only ``free_bytes`` are left; the filler, to remove later."""
    usage = os.statvfs(disk)
    filler = disk / "filler"
    filler.write_bytes(bytes(usage.f_bavail * usage.f_frsize - free_bytes))
    return filler


@pytest.mark.parametrize(
    ("free_kib", "options", "said_why"),
    [(64, (), "the recording stopped after"), (112, ("--max", "3s"), "is full")],
    ids=["while-recording", "while-keeping"],
)
def test_a_full_disk_during_a_reflection_is_one_line_and_loses_nothing(
    microphone: PipeMicrophone,
    small_disk: Path,
    free_kib: int,
    options: tuple[str, ...],
    said_why: str,
) -> None:
    """Room for two seconds of audio (the recording stops), or for the recording but not
    for its FLAC and journal entry: before, a traceback either way."""
    speech = decode(FIXTURES / "reflection-1.flac", MIC_RATE_HZ)
    journal_path = small_disk / "journal" / "journal.sqlite3"
    Journal(journal_path).close()
    filler = _leave_free(small_disk, free_kib * 1024)
    process = _start(
        "reflect", "--engine", "pocketsphinx", *options, "--journal", str(journal_path)
    )
    _wait_for_line(process, "Listening", 20)
    microphone.say(speech)
    try:
        out, err = process.communicate(timeout=30)
    finally:
        process.kill()  # a hang (as before: a failed flush left it waiting) ends here
        process.wait()
    microphone.spoken.wait(20)
    said = [line for line in err.splitlines() if line.startswith("selfkind:")]
    assert process.returncode == 1 and "Traceback" not in err, err
    assert len(said) == 1 and len(err.strip().splitlines()) == 1, err
    partials = list((journal_path.parent / "audio").glob(f"*{PARTIAL_SUFFIX}"))
    assert len(partials) == 1 and str(partials[0]) in said[0], said
    assert said_why in said[0], said
    assert "Kept in your journal" not in out
    filler.unlink()  # room again: the next command keeps what was said
    code, out, err = run("journal", "list", "--journal", str(journal_path))
    assert code == 0 and "kept as journal entry 1" in err and "(pending)" in out
    with Journal(journal_path) as journal:
        (entry,) = journal.entries()
        audio = journal.audio_path(entry)
    assert entry.duration_s >= 1.5 and audio is not None
    assert decode(audio, MIC_RATE_HZ).size / MIC_RATE_HZ >= 1.5


def test_a_full_disk_while_recording_leaves_no_recognizer_waiting(
    microphone: PipeMicrophone, small_disk: Path
) -> None:
    """The recording stops with the disk; the recognizer's thread must end with it rather
    than wait for more audio for as long as the process lives (a guide, the web server)."""
    speech = decode(FIXTURES / "reflection-1.flac", MIC_RATE_HZ)
    journal_path = small_disk / "journal" / "journal.sqlite3"
    Journal(journal_path).close()
    filler = _leave_free(small_disk, 64 * 1024)
    listener = Listener(
        journal_path, lambda: open_recognizer("pocketsphinx"), 10.0, Context(prompt="full")
    )
    listener.start()
    try:
        microphone.say(speech)
        assert listener.done.wait(20)
        assert isinstance(listener.error, CannotWrite), listener.error
        deadline = time.monotonic() + 3.0
        while _transcribing_threads() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _transcribing_threads() == []
    finally:
        microphone.spoken.wait(20)
        filler.unlink()


def _transcribing_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "transcribing" and t.is_alive()]


@pytest.fixture()
def suspendable_microphone(microphone: PipeMicrophone) -> Iterator[PipeMicrophone]:
    """The test server's microphone, resumed however the test ends (later tests speak)."""
    yield microphone
    subprocess.run(["pactl", "suspend-source", MIC, "0"], check=True)


def test_ctrl_c_on_a_suspended_microphone_ends_reflect_promptly_keeping_what_was_said(
    suspendable_microphone: PipeMicrophone, tmp_path: Path
) -> None:
    """A suspended source (pasuspender, another program taking the card) stops delivering
    without an error; closing it must not wait for it. The words said before are kept."""
    speech = decode(FIXTURES / "reflection-1.flac", MIC_RATE_HZ)
    journal_path = tmp_path / "journal.sqlite3"
    process = _start("reflect", "--engine", "pocketsphinx", "--journal", str(journal_path))
    try:
        _wait_for_line(process, "Listening", 20)
        suspendable_microphone.say(speech)
        time.sleep(2.0)  # "I would tell her that she ..."
        subprocess.run(["pactl", "suspend-source", MIC, "1"], check=True)
        time.sleep(0.5)
        interrupted = time.monotonic()
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=10)
        took_s = time.monotonic() - interrupted
    finally:
        process.kill()
        process.wait()
        suspendable_microphone.spoken.wait(20)
    assert process.returncode == 0 and "Traceback" not in err, err
    assert took_s <= 2.0, took_s
    assert "Kept in your journal as entry 1." in out, out
    with Journal(journal_path) as journal:
        (entry,) = journal.entries()
        audio = journal.audio_path(entry)
    assert entry.status == "done" and entry.duration_s >= 1.5, entry
    assert audio is not None and decode(audio, MIC_RATE_HZ).size >= 1.5 * MIC_RATE_HZ


@pytest.mark.live_s(17)
def test_a_guide_whose_microphone_is_suspended_mid_reflection_ends_on_time_and_keeps_it(
    suspendable_microphone: PipeMicrophone, tmp_path: Path
) -> None:
    """The step's time runs out while the source sends nothing: the session goes on, and
    at its end the guide keeps what was said before and exits (before: it waited 30 s for
    the listener, stuck closing the microphone, and kept nothing)."""
    script = tmp_path / "short.md"
    script.write_text("Take a breath.\n\n[reflect 4s] What would you say?\n\nThank you.\n")
    journal_path = tmp_path / "journal.sqlite3"
    process = _start(
        "guide", str(script), "--delay", "0", "--engine", "pocketsphinx",
        "--journal", str(journal_path),
    )  # fmt: skip
    try:
        _wait_for_line(process, "(listening)", 30)
        time.sleep(0.5)  # after the soft cue
        suspendable_microphone.say(decode(FIXTURES / "reflection-1.flac", MIC_RATE_HZ))
        time.sleep(2.0)
        subprocess.run(["pactl", "suspend-source", MIC, "1"], check=True)
        out, err = process.communicate(timeout=15)  # the rest of the session: about 7 s
    finally:
        process.kill()
        process.wait()
        suspendable_microphone.spoken.wait(20)
    assert process.returncode == 0 and "Traceback" not in err, err
    assert "session has ended" in out and "private journal (1 entry)" in out, out
    with Journal(journal_path) as journal:
        (entry,) = journal.entries()
        audio = journal.audio_path(entry)
    assert entry.status == "done" and entry.duration_s >= 1.5, entry
    assert audio is not None and decode(audio, MIC_RATE_HZ).size >= 1.5 * MIC_RATE_HZ


def test_recovery_leaves_a_starting_recording_alone_and_clears_a_stale_one(tmp_path: Path) -> None:
    """A recording is born under a name recovery does not take, locked before it is renamed;
    one left under that name by a process killed in those microseconds goes after a minute,
    and so does the half-written FLAC of a keep() that was killed."""
    with Journal(tmp_path / "journal.sqlite3") as journal:
        fresh = journal.audio_dir / f"a{PARTIAL_SUFFIX}.new"
        stale = journal.audio_dir / f"b{PARTIAL_SUFFIX}.new"
        for path in (fresh, stale):
            path.write_bytes(bytes(44))
        an_hour_ago = time.time() - 3600
        os.utime(stale, (an_hour_ago, an_hour_ago))
        dead_writer = subprocess.Popen(["true"])  # its process id is no one's now
        dead_writer.wait()
        half_flac = journal.audio_dir / f".c.flac.{dead_writer.pid}.abcd1234.part"
        half_flac.write_bytes(b"fLaC half of what was said")
        assert recover(journal) == []
        assert fresh.exists() and not stale.exists() and not half_flac.exists()
        assert journal.entries() == []
