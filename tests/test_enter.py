"""Enter at a reflection ends the step at once, whatever the recognizer is doing.

The guide's recognizer runs in a worker process. Here that real process (Whisper, loading
its model) is held still with SIGSTOP from the moment it is spawned, as a machine too busy
to run it would hold it, and let go only when the test says: the session must go on at
Enter all the same, keep what was said, and add its words once the recognizer catches up.
The time from Enter to the step's closing cue is measured where a listener hears it, at
the null sink's monitor (scripts/bench_enter.py gives the figures)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from selfkind.journal.store import Journal
from selfkind.listen.recognizers import open_recognizer, whisper
from selfkind.listen.recognizers.worker import RecognizerWorker
from selfkind.listen.transcribe import transcribe_file
from selfkind.sounds import listen_cue

from .conftest import FIXTURES, SESSION_RATE_HZ, decode, found_at
from .soundserver import PipeMicrophone
from .speech import FIXTURES as SPEECH_FIXTURES
from .speech import decode_16k, normalize
from .test_guide import _end_in_terminal, _read_until, _spawn_in_terminal

MIC_RATE_HZ = 16000
needs_whisper = pytest.mark.skipif(
    whisper.built_in_model() is None, reason="selfkind[whisper] is not installed"
)

TWO_STEPS = """---
title: Enter Test
---
[reflect 30s] How are you?

[reflect 30s] And now?

Thank you.
"""


def recognizer_process(guide_pid: int, timeout_s: float = 20.0) -> int:
    """The pid of the guide's recognizer worker (multiprocessing's spawned child), found as
    soon as it exists (polled every few milliseconds)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        children: list[str] = []
        with contextlib.suppress(OSError):
            for task in os.listdir(f"/proc/{guide_pid}/task"):
                with open(f"/proc/{guide_pid}/task/{task}/children") as file:
                    children += file.read().split()
        for child in children:
            with contextlib.suppress(OSError), open(f"/proc/{child}/cmdline", "rb") as file:
                if b"spawn_main" in file.read():
                    return int(child)
        time.sleep(0.003)
    raise AssertionError(f"no recognizer process under {guide_pid}")


def whisper_loaded(pid: int) -> bool:
    """Whether the process has CTranslate2 (Whisper's engine) in memory yet."""
    with open(f"/proc/{pid}/maps") as file:
        return "ctranslate2" in file.read()


class HeldRecognizer:
    """The guide's recognizer process stopped (SIGSTOP) until :meth:`release`: it gets no
    CPU at all, as on a machine too busy to run it, and resumes where it was."""

    def __init__(self, guide_pid: int) -> None:
        self.pid = recognizer_process(guide_pid)
        os.kill(self.pid, signal.SIGSTOP)
        self.released = False

    def release(self) -> None:
        if not self.released:
            self.released = True
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGCONT)


class TimedRecorder:
    """What the null sink plays, from its monitor, with the time each piece arrived: so a
    sound found in the recording can be put on the same clock as a key press."""

    def __init__(self, sink: str) -> None:
        self._process = subprocess.Popen(
            ["parec", "-d", f"{sink}.monitor", "--format=float32le", f"--rate={SESSION_RATE_HZ}",
             "--channels=1", "--latency-msec=20"],
            stdout=subprocess.PIPE,
        )  # fmt: skip
        self._chunks: list[tuple[float, bytes]] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        deadline = time.monotonic() + 5
        while self._n_bytes() < SESSION_RATE_HZ * 4 // 5 and time.monotonic() < deadline:
            time.sleep(0.02)

    def _n_bytes(self) -> int:
        return sum(len(chunk) for _, chunk in self._chunks)

    def _read(self) -> None:
        assert self._process.stdout is not None
        while chunk := self._process.stdout.read1(65536):
            self._chunks.append((time.monotonic(), chunk))

    def stop(self) -> tuple[np.ndarray, np.ndarray]:
        """(samples, the time.monotonic() at which each 1000th sample arrived)."""
        self._process.terminate()
        self._process.wait(timeout=10)
        self._reader.join(timeout=10)
        data = b"".join(chunk for _, chunk in self._chunks)
        samples = np.frombuffer(data[: len(data) // 4 * 4], dtype="<f4")
        ends = np.cumsum([len(chunk) // 4 for _, chunk in self._chunks])
        arrived = np.array([at for at, _ in self._chunks])
        # A sample arrived with the chunk that ends after it.
        index = np.searchsorted(ends, np.arange(0, samples.size, 1000), side="right")
        return samples, arrived[np.minimum(index, arrived.size - 1)]

    @staticmethod
    def heard_at(sound: np.ndarray, samples: np.ndarray, times: np.ndarray) -> float | None:
        """When ``sound`` began to be heard (time.monotonic()), or None if it never was."""
        lag = found_at(sound, samples)
        return None if lag is None else float(times[lag // 1000])


@dataclass
class Guide:
    """`selfkind guide` in a pseudo-terminal (keys reach it as typed), with its journal."""

    pid: int
    fd: int
    journal_path: Path
    screen: str = ""

    def read_until(self, wanted: str, timeout_s: float) -> bool:
        """Read the screen until ``wanted`` appears after what was read before."""
        start = len(self.screen)
        deadline = time.monotonic() + timeout_s
        while wanted not in self.screen[start:] and time.monotonic() < deadline:
            self.screen += _read_until(self.fd, wanted, deadline - time.monotonic())
        return wanted in self.screen[start:]

    def press(self, key: bytes) -> float:
        os.write(self.fd, key)
        return time.monotonic()

    exit_code: int | None = None

    def end(self, timeout_s: float) -> int:
        """Its exit status, reading what it shows meanwhile; killed after ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while self.exit_code is None:
            done, status = os.waitpid(self.pid, os.WNOHANG)
            if done:
                self.exit_code = os.waitstatus_to_exitcode(status)
            elif time.monotonic() > deadline:
                self.exit_code = _end_in_terminal(self.pid, 0)
            else:
                self.screen += _read_until(self.fd, "\0", 0.05)
        self.screen += _read_until(self.fd, "\0", 0.2)  # the last words, if any are left
        return self.exit_code


@contextlib.contextmanager
def guide_with_held_recognizer(
    tmp_path: Path, script_text: str
) -> Iterator[tuple[Guide, HeldRecognizer]]:
    script = tmp_path / "enter.md"
    script.write_text(script_text)
    journal_path = tmp_path / "journal.sqlite3"
    pid, fd = _spawn_in_terminal(
        "guide", str(script), "--delay", "0", "--journal", str(journal_path)
    )
    guide, held = Guide(pid, fd, journal_path), None
    try:
        held = HeldRecognizer(pid)
        yield guide, held
    finally:
        if held is not None:
            held.release()  # a stopped process must never outlive the test
        guide.end(20)
        os.close(fd)


def _statuses(journal_path: Path) -> list[str]:
    with Journal(journal_path) as journal:
        return [entry.status for entry in journal.entries()]


def _speech(name: str) -> np.ndarray:
    return decode_16k(SPEECH_FIXTURES / name)


@needs_whisper
@pytest.mark.live_s(18)
def test_enter_moves_on_at_once_while_the_recognizer_is_still_loading(
    sound_server: str, microphone: PipeMicrophone, tmp_path: Path
) -> None:
    """Whisper has not even loaded (its process held since it was spawned): Enter still
    brings the closing cue within 1 s, and the audio is kept, pending. The second step
    listens while the first waits to be recognized; the recognizer is let go then, and
    Enter there is as quick while it loads and works. Both entries get their words, in
    order."""
    first, second = _speech("goforward.wav"), _speech("cards-003.wav")
    closing = listen_cue(SESSION_RATE_HZ, False)
    recorder = TimedRecorder(sound_server)
    with guide_with_held_recognizer(tmp_path, TWO_STEPS) as (guide, held):
        assert guide.read_until("(listening)", 30), guide.screen
        assert not whisper_loaded(held.pid)  # still loading when the person speaks
        time.sleep(0.5)  # after the soft cue, as a person would
        microphone.say(first)
        assert microphone.spoken.wait(10)
        enter_1 = guide.press(b"\r")
        assert guide.read_until("And now?", 5), guide.screen
        assert guide.read_until("(listening)", 10), guide.screen  # the first not yet heard
        kept_first = "Kept in your journal (entry 1)" in guide.screen
        with Journal(guide.journal_path) as journal:
            waiting = [(e.prompt, e.status) for e in journal.entries()]
        held.release()  # Whisper loads, then hears the first, while the second is said
        time.sleep(0.5)
        microphone.say(second)
        assert microphone.spoken.wait(10)
        enter_2 = guide.press(b"\r")
        assert guide.read_until("Thank you.", 5), guide.screen
        samples, times = recorder.stop()
        deadline = time.monotonic() + 20
        while _statuses(guide.journal_path) != ["done", "done"] and time.monotonic() < deadline:
            time.sleep(0.1)
        guide.press(b"q")  # the session's quiet ending is not the test
        assert guide.end(15) == 0, guide.screen
    # Each closing cue heard within a second of its Enter (the first is found in the part
    # recorded before the second step).
    split = int(np.searchsorted(times, enter_2)) * 1000
    heard_1 = TimedRecorder.heard_at(closing, samples[:split], times)
    heard_2 = TimedRecorder.heard_at(closing, samples[split:], times[split // 1000 :])
    assert heard_1 is not None and heard_2 is not None
    assert 0 < heard_1 - enter_1 < 1.0, heard_1 - enter_1
    assert 0 < heard_2 - enter_2 < 1.0, heard_2 - enter_2
    # The audio was kept while the recognizer could not run; the words came later.
    assert kept_first and waiting == [("How are you?", "pending")]
    assert "private journal (2 entries)" in guide.screen
    with Journal(guide.journal_path) as journal:
        one, two = journal.entries()
        audio = [journal.audio_path(one), journal.audio_path(two)]
    assert (one.prompt, two.prompt) == ("How are you?", "And now?")
    assert one.status == two.status == "done" and one.engine == two.engine == "whisper"
    assert "forward" in normalize(one.transcript).split(), one.transcript
    assert "seven" in normalize(two.transcript).split(), two.transcript  # "7 of clubs."
    for path, said in zip(audio, (first, second), strict=True):
        assert path is not None and found_at(said, decode(path, MIC_RATE_HZ)) is not None


@needs_whisper
@pytest.mark.live_s(12)
def test_ctrl_c_right_after_enter_keeps_the_audio(
    sound_server: str, microphone: PipeMicrophone, tmp_path: Path
) -> None:
    """The recognizer never gets to run: Ctrl-C just after Enter ends the session in a few
    seconds, and what was said is in the journal, pending, to transcribe later."""
    first = _speech("cards-003.wav")
    with guide_with_held_recognizer(tmp_path, TWO_STEPS) as (guide, held):
        assert guide.read_until("(listening)", 30), guide.screen
        time.sleep(0.5)
        microphone.say(first)
        assert microphone.spoken.wait(10)
        guide.press(b"\r")
        time.sleep(0.2)
        interrupted = guide.press(b"\x03")  # Ctrl-C, as the terminal sends it
        code = guide.end(15)
        took_s = time.monotonic() - interrupted
        assert not held.released
    assert code == 130, guide.screen
    assert took_s < 8, took_s  # the quit's fade, QUIT_WAIT_S for the words, the keeping
    assert "Traceback" not in guide.screen
    assert "private journal (1 entry)" in guide.screen, guide.screen
    with Journal(guide.journal_path) as journal:
        (entry,) = journal.entries()
        audio = journal.audio_path(entry)
    assert entry.status == "pending" and entry.prompt == "How are you?"
    assert audio is not None and found_at(first, decode(audio, MIC_RATE_HZ)) is not None


def test_a_second_utterance_waits_for_its_turn_in_the_worker() -> None:
    """The next reflection's recognizer is asked for while the one before is still being
    fed: it is given only once that one has finished, and each gets its own words (one
    process, one pipe: before, the second's start reset the first mid-way)."""
    first, second = FIXTURES / "reflection-2.flac", FIXTURES / "reflection-3.flac"
    local = [transcribe_file(path, open_recognizer("pocketsphinx")) for path in (first, second)]
    pcm = (decode(first, MIC_RATE_HZ) * 32767).astype("<i2").tobytes()
    worker = RecognizerWorker("pocketsphinx")
    got: dict[str, object] = {}

    def next_one() -> None:
        recognizer = worker.new()
        got["second_at"] = time.monotonic()
        got["second"] = transcribe_file(second, recognizer)

    try:
        recognizer = worker.new()
        half = len(pcm) // 4 * 2
        recognizer.accept(pcm[:half])
        waiting = threading.Thread(target=next_one)
        waiting.start()
        time.sleep(0.5)
        assert "second_at" not in got  # not while the first is being fed
        recognizer.accept(pcm[half:])
        finished_at = time.monotonic()
        text = recognizer.finish().text
        waiting.join(30)
    finally:
        worker.close()
    assert text == local[0].text, (text, local[0].text)
    assert got["second_at"] >= finished_at  # type: ignore[operator]
    assert got["second"].text == local[1].text  # type: ignore[attr-defined]
