#!/usr/bin/env python3
"""Benchmark: Enter at a reflection -> the step's closing cue heard, while the recognizer
is not ready.

`selfkind guide` plays a one-step session in a pseudo-terminal, into its own PulseAudio
null sink; a real person's words ("go forward ten meters") go into the pipe microphone,
then Enter. The closing cue is found in the sink's monitor and put on the same clock as
the key. The recognizer (Whisper, in its worker process) is made unready in one of these
ways, all on the real process:

    held   stopped (SIGSTOP) from the moment it is spawned, let go HOLD s after Enter
    busy   held to one core from its spawn, beside BUSY_LOOPS busy loops there (each in a
           session of its own, as other programs are, so each gets its share: the kernel
           shares a core between sessions first); the loops end HOLD s after Enter (a
           machine busy with other work, which then calms)
    early  nothing done to it; Enter 0.3 s after listening begins, before anything is
           said (nothing is kept: the words column is when that is decided)
    warm   nothing done to it; Enter after speaking (the usual case)

    .venv/bin/python scripts/bench_enter.py --runs 3
    .venv/bin/python scripts/bench_enter.py --src /tmp/before/src   # other code, same bench

Prints a table: Enter -> closing cue heard, Enter -> the entry's words in the journal, and
whether the model was in memory at Enter.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ONE_STEP = """---
title: Enter Bench
---
[reflect 30s] What would you say to a close friend?

Thank you.
"""
MODES = ("held", "busy", "early", "warm")
BUSY_LOOPS = 4


def one_run(mode: str, work: Path, hold_s: float, sink: str, microphone: object) -> dict:
    from selfkind.journal.store import Journal
    from selfkind.sounds import listen_cue
    from tests.conftest import SESSION_RATE_HZ
    from tests.speech import FIXTURES, decode_16k
    from tests.test_enter import (
        Guide,
        HeldRecognizer,
        TimedRecorder,
        recognizer_process,
        whisper_loaded,
    )
    from tests.test_guide import _spawn_in_terminal

    script = work / "enter.md"
    script.write_text(ONE_STEP)
    journal_path = work / f"journal-{time.monotonic_ns()}.sqlite3"
    recorder = TimedRecorder(sink)
    pid, fd = _spawn_in_terminal(
        "guide", str(script), "--delay", "0", "--journal", str(journal_path)
    )
    guide = Guide(pid, fd, journal_path)
    held: HeldRecognizer | None = None
    hogs: list[subprocess.Popen[bytes]] = []
    try:
        if mode == "held":
            held = HeldRecognizer(pid)
            worker = held.pid
        else:
            worker = recognizer_process(pid)
        if mode == "busy":
            os.sched_setaffinity(worker, {0})
            hogs = [
                subprocess.Popen(
                    ["taskset", "-c", "0", sys.executable, "-c", "while True: pass"],
                    start_new_session=True,
                )
                for _ in range(BUSY_LOOPS)
            ]
        assert guide.read_until("(listening)", 60), guide.screen
        if mode == "early":
            time.sleep(0.3)
        else:
            time.sleep(0.5)
            microphone.say(decode_16k(FIXTURES / "goforward.wav"))  # type: ignore[attr-defined]
            microphone.spoken.wait(10)  # type: ignore[attr-defined]
        loaded = whisper_loaded(worker)
        enter = guide.press(b"\r")
        release_at = enter + hold_s
        words_at = None
        while time.monotonic() < enter + 60 and words_at is None:
            if time.monotonic() >= release_at:
                if held is not None:
                    held.release()
                for hog in hogs:
                    hog.kill()
            if journal_path.exists():
                with Journal(journal_path) as journal:
                    entries = journal.entries()
                if mode == "early" and "Nothing was heard" in guide.screen:
                    words_at = time.monotonic()  # the decision that nothing was said
                elif entries and entries[0].status == "done":
                    words_at = time.monotonic()
            guide.read_until("\0", 0.05)
        guide.read_until("session has ended", 30)
        samples, times = recorder.stop()
        heard = TimedRecorder.heard_at(listen_cue(SESSION_RATE_HZ, False), samples, times)
    finally:
        if held is not None:
            held.release()
        for hog in hogs:
            hog.kill()
            hog.wait()
        guide.end(30)
        os.close(fd)
    return {
        "cue_s": None if heard is None else heard - enter,
        "words_s": None if words_at is None else words_at - enter,
        "loaded": loaded,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--hold", type=float, default=3.0, help="seconds after Enter")
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--src", help="the selfkind source folder to measure (default: this one)")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    work = Path(tempfile.mkdtemp(prefix="bench-enter-"))
    os.environ["XDG_RUNTIME_DIR"] = str(work / "runtime")
    os.environ["SELFKIND_HOME"] = str(work / "home")
    os.environ["SELFKIND_VOICE"] = "default"
    os.environ["PYTHONPATH"] = str(Path(args.src).resolve()) if args.src else str(ROOT / "src")
    from tests.soundserver import SINK, PipeMicrophone, ensure_null_sink, stop_server

    ensure_null_sink(work / "runtime")
    microphone = PipeMicrophone(work)
    source = args.src or str(ROOT / "src")
    print(f"code: {source}; load average {os.getloadavg()[0]:.1f} at the start")
    print("\n| recognizer at Enter | runs | Whisper's engine in memory at Enter"
          " | Enter -> closing cue heard | Enter -> words kept (or 'nothing heard') |")  # fmt: skip
    print("|---|---|---|---|---|")
    try:
        for mode in args.modes.split(","):
            results = [one_run(mode, work, args.hold, SINK, microphone) for _ in range(args.runs)]
            cues = [r["cue_s"] for r in results if r["cue_s"] is not None]
            words = [r["words_s"] for r in results if r["words_s"] is not None]
            print(
                f"| {mode} | {len(results)} | {sum(r['loaded'] for r in results)}"
                f" of {len(results)} | {_spread(cues)} ({len(cues)} found) | {_spread(words)} |",
                flush=True,
            )
    finally:
        microphone.close()
        stop_server()
    print(f"load average {os.getloadavg()[0]:.1f} at the end")


def _spread(values: list[float]) -> str:
    if not values:
        return "-"
    return f"{statistics.median(values):.2f} s ({min(values):.2f}-{max(values):.2f})"


if __name__ == "__main__":
    main()
