"""Live guidance through PortAudio into a real PulseAudio null sink, recorded from its monitor."""

from __future__ import annotations

import os
import pty
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from selfkind.render import load_script, prepare_session, render_session

from .conftest import SESSION_RATE_HZ, Recorder, best_lag, decode, load_manifest, run

SCRIPT = """---
title: Guide Test
---
# Arriving
Welcome. Let yourself arrive, just as you are.
[pause 1500ms]
[bell]
# Resting
Notice the breath, and let it be easy.
[pause 1s]
Thank you.
"""
LONG = (
    "# One\nThe first part.\n[pause 20s]\n# Two\nThe second part.\n[pause 20s]\n# Three\nThe end.\n"
)


def _audible_span(samples: np.ndarray) -> tuple[int, int]:
    loud = np.flatnonzero(np.abs(samples) > 10 ** (-45 / 20))
    return int(loud[0]), int(loud[-1])


def test_guide_plays_the_session_as_rendered(sound_server: str, tmp_path: Path) -> None:
    script = tmp_path / "guide.md"
    script.write_text(SCRIPT)
    rendered_path = tmp_path / "guide.wav"
    render_session(prepare_session(load_script(str(script))), rendered_path, "wav")
    rendered = decode(rendered_path)

    recorder = Recorder(sound_server)
    time.sleep(0.3)
    code, out, err = run("guide", str(script), "--delay", "0")
    time.sleep(0.5)
    heard = recorder.stop()
    assert code == 0, err
    assert "Arriving" in out and "Thank you." in out
    assert "session has ended" in out

    # Same sound, same length: the audible span matches the file's within 50 ms.
    lag = best_lag(rendered, heard)
    aligned = heard[lag : lag + rendered.size]
    assert aligned.size == rendered.size
    start_r, end_r = _audible_span(rendered)
    start_h, end_h = _audible_span(aligned)
    assert abs((end_h - start_h) - (end_r - start_r)) <= 0.05 * SESSION_RATE_HZ
    correlation = np.corrcoef(aligned, rendered)[0, 1]
    assert correlation > 0.9, correlation
    # No gaps: each utterance lines up at the same lag (within 5 ms). (Speech, not the bell,
    # whose steady tone correlates equally well a whole number of periods away.)
    manifest = load_manifest(rendered_path.with_suffix(".json"))
    for event in (e for e in manifest["events"] if e["kind"] == "speech"):
        start = round(event["start_s"] * SESSION_RATE_HZ)
        piece = rendered[start : start + SESSION_RATE_HZ]
        margin = SESSION_RATE_HZ // 10
        search = heard[lag + start - margin : lag + start + piece.size + margin]
        local = best_lag(piece, search) - margin
        assert abs(local) <= 0.005 * SESSION_RATE_HZ, (event["text"], local)


def _spawn_in_terminal(*args: str) -> tuple[int, int]:
    pid, fd = pty.fork()
    if pid == 0:  # the child: the real command, in a pseudo-terminal
        os.execvpe(sys.executable, [sys.executable, "-m", "selfkind", *args], os.environ)
    return pid, fd


def _read_until(fd: int, wanted: str, timeout_s: float) -> str:
    seen = ""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and wanted not in seen:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            try:
                seen += os.read(fd, 4096).decode(errors="replace")
            except OSError:
                break
    return seen


def test_keys_skip_sections_and_quit_gently(sound_server: str, tmp_path: Path) -> None:
    script = tmp_path / "long.md"
    script.write_text(LONG)
    prepare_session(load_script(str(script)))  # speech in the cache: the test is about keys
    pid, fd = _spawn_in_terminal("guide", str(script), "--delay", "0")
    try:
        assert "next section" in _read_until(fd, "next section", 20)
        assert "The first part." in _read_until(fd, "The first part.", 10)
        os.write(fd, b"n")
        assert "The second part." in _read_until(fd, "The second part.", 3)
        os.write(fd, b" ")
        assert "paused" in _read_until(fd, "paused", 3)
        os.write(fd, b" ")
        os.write(fd, b"q")
        rest = _read_until(fd, "That is completely fine.", 5)
        assert "Stopped after" in rest
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 0


def test_ctrl_c_fades_out_and_exits_130(sound_server: str, tmp_path: Path) -> None:
    script = tmp_path / "long.md"
    script.write_text(LONG)
    process = subprocess.Popen(
        [sys.executable, "-m", "selfkind", "guide", str(script), "--delay", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(3)
    started = time.monotonic()
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=15)
    assert process.returncode == 130, err
    assert "Stopped after" in out and "Traceback" not in err
    assert time.monotonic() - started >= 1.0  # it faded rather than cut


def test_no_output_device_is_one_clear_line(tmp_path: Path) -> None:
    script = tmp_path / "short.md"
    script.write_text("A short hello.\n")
    env_server = os.environ.get("PULSE_SERVER")
    os.environ["PULSE_SERVER"] = "unix:/nonexistent/pulse"
    try:
        code, _, err = run("guide", str(script), "--delay", "0")
    finally:
        if env_server is None:
            os.environ.pop("PULSE_SERVER")
        else:
            os.environ["PULSE_SERVER"] = env_server
    assert code == 1
    assert len(err.strip().splitlines()) == 1 and "selfkind render" in err


@pytest.mark.parametrize("command", [("guide", "--help"), ("devices", "--help")])
def test_guide_commands_have_help(command: tuple[str, ...]) -> None:
    code, out, _ = run(*command)
    assert code == 0 and "usage: selfkind" in out
