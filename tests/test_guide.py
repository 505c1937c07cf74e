"""Live guidance through PortAudio into a real PulseAudio null sink, recorded from its monitor."""

from __future__ import annotations

import contextlib
import os
import pty
import select
import signal
import subprocess
import sys
import threading
import time
import wave
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from selfkind.guide.player import Player
from selfkind.levels import LOSSLESS_CEILING_DBTP
from selfkind.master import Master
from selfkind.mix import SessionMix, session_gain_db
from selfkind.render import load_script, prepare_session, render_session

from .conftest import SESSION_RATE_HZ, Recorder, best_lag, decode, load_manifest, run

SCRIPT = """---
title: Guide Test
content_note: Brings a small worry to mind.
---
# Arriving
Welcome. Let yourself arrive, just as you are.
[bell]
# Resting
Thank you.
"""
LONG = (
    "# One\nThe first part.\n[pause 20s]\n# Two\nThe second part.\n[pause 20s]\n# Three\nThe end.\n"
)


def _audible_span(samples: np.ndarray) -> tuple[int, int]:
    loud = np.flatnonzero(np.abs(samples) > 10 ** (-45 / 20))
    return int(loud[0]), int(loud[-1])


@pytest.mark.live_s(21)
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
    # Before it starts: what it is, how long, the voice, its content note, and that
    # stopping is fine; all before the first word.
    before = out.split("Welcome.")[0]
    assert "Guide Test: about 15s, default voice" in before
    assert "Content note: Brings a small worry to mind." in before
    assert "You can stop at any time" in before
    assert "Arriving" in out and "Thank you." in out
    assert "session has ended" in out

    # Same sound, same length: the audible span matches the file's within 50 ms.
    lag = best_lag(rendered, heard)
    aligned = heard[lag : lag + rendered.size]
    assert aligned.size == rendered.size
    start_r, end_r = _audible_span(rendered)
    start_h, end_h = _audible_span(aligned)
    spans = (start_h, end_h, start_r, end_r, err)  # err says if the audio fell behind
    assert abs((end_h - start_h) - (end_r - start_r)) <= 0.05 * SESSION_RATE_HZ, spans
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


def _end_in_terminal(pid: int, timeout_s: float = 5.0) -> int:
    """The exit status of a command started by _spawn_in_terminal; killed if it has not
    ended within ``timeout_s`` (a test that failed half-way must not hang)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


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


SHORT = "---\ntitle: Short Rest\n---\nBreathe in.\n[pause 16s]\nAnd out.\n"
"""About 23 s long: its heading said "about 1m"."""


def test_a_short_session_shows_its_length_in_seconds(tmp_path: Path) -> None:
    import io

    from rich.console import Console

    from selfkind.cli.guide import length_text
    from selfkind.cli.screen import ScreenState, render_screen
    from selfkind.render import resolve_voice

    script_path = tmp_path / "short.md"
    script_path.write_text(SHORT)
    script = load_script(str(script_path))
    voice = resolve_voice(script, None)
    length = length_text(script, voice, None)
    screen = io.StringIO()
    Console(file=screen, width=60, color_system=None).print(
        render_screen(ScreenState(script.title, length, voice.name, "", "Breathe in.", 0, 0))
    )
    assert "Short Rest  about 25s · default voice" in screen.getvalue()
    # What the session really lasts, measured on the session itself.
    assert 20 < prepare_session(script).timeline.duration_s < 27.5


def test_keys_skip_sections_and_quit_gently(sound_server: str, tmp_path: Path) -> None:
    script = tmp_path / "long.md"
    script.write_text(LONG)
    prepare_session(load_script(str(script)))  # speech in the cache: the test is about keys
    pid, fd = _spawn_in_terminal("guide", str(script), "--delay", "0")
    try:
        assert "q stop" in _read_until(fd, "q stop", 20)
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
        code = _end_in_terminal(pid)
        os.close(fd)
    assert code == 0


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
    took_s = time.monotonic() - started
    assert process.returncode == 130, err
    assert "Stopped after" in out and "Traceback" not in err
    assert 1.0 <= took_s <= 2.0, took_s  # it faded rather than cut, and did not keep us


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


def _start_guide(script: Path, *options: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "selfkind", "guide", str(script), "--delay", "0", *options],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _wait_for_line(process: subprocess.Popen, wanted: str, timeout_s: float) -> str:
    """Read the guide's stdout (unbuffered) until it holds ``wanted``; what was read."""
    assert process.stdout is not None
    return _read_until(process.stdout.fileno(), wanted, timeout_s)


def _exit_time_s(process: subprocess.Popen, since: float, timeout_s: float = 10.0) -> float:
    """Seconds from ``since`` until the process ended (killing it after ``timeout_s``)."""
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        return float("inf")
    return time.monotonic() - since


RAW_LIBRARY_LINES = ("Expression '", "ALSA lib", "pa_linux_alsa", "Traceback")


@pytest.fixture()
def suspendable_sink(sound_server: str) -> Iterator[str]:
    """The test server's sink, resumed however the test ends (later tests play into it)."""
    yield sound_server
    subprocess.run(["pactl", "suspend-sink", sound_server, "0"], check=True)


def _suspend_under_way(sink: str, tmp_path: Path, playing_s: float) -> subprocess.Popen[str]:
    """A guide of LONG (speech cached first) playing for ``playing_s`` after its first
    words; then the sink is suspended, as pasuspender and JACK do."""
    script = tmp_path / "long.md"
    script.write_text(LONG)
    prepare_session(load_script(str(script)))
    process = _start_guide(script)
    try:
        assert "The first part." in _wait_for_line(process, "The first part.", 20)
        time.sleep(playing_s)
        subprocess.run(["pactl", "suspend-sink", sink, "1"], check=True)
    except BaseException:
        process.kill()
        raise
    return process


@pytest.mark.live_s(6)
def test_suspended_sink_is_reported_within_2s(suspendable_sink: str, tmp_path: Path) -> None:
    process = _suspend_under_way(suspendable_sink, tmp_path, 2.0)  # past PulseAudio's slow start
    try:
        suspended = time.monotonic()
        took_s = _exit_time_s(process, suspended)
    finally:
        process.kill()
    out, err = process.communicate()
    assert took_s <= 2.0, took_s
    assert process.returncode == 1, (out, err)
    assert len(err.strip().splitlines()) == 1 and "suspended" in err, err
    assert "completely fine" not in out


def test_ctrl_c_on_a_suspended_sink_exits_within_2s(suspendable_sink: str, tmp_path: Path) -> None:
    process = _suspend_under_way(suspendable_sink, tmp_path, 1.0)
    try:
        time.sleep(0.3)  # the device has stopped taking audio; the stall is not yet noticed
        interrupted = time.monotonic()
        process.send_signal(signal.SIGINT)
        took_s = _exit_time_s(process, interrupted)
    finally:
        process.kill()
    out, err = process.communicate()
    assert took_s <= 2.0, took_s
    assert process.returncode == 130, (out, err)
    assert "Stopped after" in out
    assert not any(raw in err for raw in RAW_LIBRARY_LINES), err


def test_sound_server_killed_mid_session_is_a_lost_device(
    sound_server: str, selfkind_home: Path, tmp_path: Path
) -> None:
    """A server of the test's own, in its own runtime folder: killing it leaves the shared
    one running for the tests after this."""
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    no_autospawn = tmp_path / "client.conf"
    no_autospawn.write_text("autospawn = no\n")
    env = {**os.environ, "XDG_RUNTIME_DIR": str(runtime), "PULSE_CLIENTCONFIG": str(no_autospawn)}
    env.pop("PULSE_SERVER", None)
    subprocess.run(
        ["pulseaudio", "--daemonize=yes", "--exit-idle-time=-1", "-n",
         "--load=module-native-protocol-unix", "--load=module-null-sink"],
        check=True, capture_output=True, env=env,
    )  # fmt: skip
    server_pid = int((runtime / "pulse" / "pid").read_text())
    script = tmp_path / "long.md"
    script.write_text(LONG)
    prepare_session(load_script(str(script)))
    process = _start_guide(script, env=env)
    try:
        assert "The first part." in _wait_for_line(process, "The first part.", 20)
        os.kill(server_pid, signal.SIGKILL)
        took_s = _exit_time_s(process, time.monotonic())
    finally:
        process.kill()
        with contextlib.suppress(ProcessLookupError):
            os.kill(server_pid, signal.SIGKILL)
    out, err = process.communicate()
    assert took_s <= 3.0, took_s
    assert process.returncode == 1, (out, err)
    assert len(err.strip().splitlines()) == 1 and "went away" in err, err
    assert not any(raw in err for raw in RAW_LIBRARY_LINES), err
    assert "completely fine" not in out
    # What PortAudio said is kept for whoever looks into it, not lost.
    assert "pa_linux_alsa" in (selfkind_home / "cache" / "sound.log").read_text()


def test_devices_without_a_sound_server_says_what_to_do() -> None:
    env_server = os.environ.get("PULSE_SERVER")
    os.environ["PULSE_SERVER"] = "unix:/nonexistent/pulse"
    try:
        code, out, err = run("devices")
    finally:
        if env_server is None:
            os.environ.pop("PULSE_SERVER")
        else:
            os.environ["PULSE_SERVER"] = env_server
    assert code == 1 and out == ""
    assert len(err.strip().splitlines()) == 1 and "no sound devices" in err, err
    assert "pulseaudio --start" in err


TONE_SCRIPT = """---
title: Keys
background: tone.wav
---
# One
[pause 20s]
# Two
[pause 20s]
Goodbye.
"""


def _write_tone(path: Path, frequency_hz: float = 97.0, duration_s: float = 30.0) -> None:
    """A low steady tone as the bed: its own steps are tiny, so any splice that is not
    faded stands out. Not a multiple of 10 Hz, which would be in phase again after each
    0.1 s block and hide a splice between blocks; a whole number of periods long, so its
    loop is seamless."""
    n = round(duration_s * SESSION_RATE_HZ)
    tone = 0.5 * np.sin(2 * np.pi * frequency_hz * np.arange(n) / SESSION_RATE_HZ)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SESSION_RATE_HZ)
        out.writeframes((tone * 32767).astype("<i2").tobytes())


def _dips(heard: np.ndarray, window: int) -> tuple[float, list[tuple[int, int]]]:
    """(steady level, [(first, last) sample of each drop under a third of it]) between the
    first and the last moment at the steady level."""
    n = heard.size // window
    level = np.sqrt(np.mean(heard[: n * window].reshape(n, window) ** 2, axis=1))
    steady = float(np.percentile(level, 90))
    full = np.flatnonzero(level > 0.8 * steady)
    low = level < steady / 3
    dips, begin = [], None
    for index in range(full[0], full[-1] + 1):
        if low[index] and begin is None:
            begin = index
        elif not low[index] and begin is not None:
            dips.append((begin * window, index * window))
            begin = None
    return steady, dips


@pytest.mark.live_s(12)
def test_pause_resume_skip_and_back_do_not_click(sound_server: str, tmp_path: Path) -> None:
    _write_tone(tmp_path / "tone.wav")
    script = tmp_path / "keys.md"
    script.write_text(TONE_SCRIPT)
    prepare_session(load_script(str(script)))
    recorder = Recorder(sound_server)
    pid, fd = _spawn_in_terminal("guide", str(script), "--delay", "0")
    try:
        # (The screen shows the section on a line of its own, the clock beside the bar.)
        assert "0:00 /" in _read_until(fd, "0:00 /", 20)
        _read_until(fd, "0:03 /", 6)  # the bed has faded in
        for key, wanted in ((b" ", "paused"), (b" ", "One"), (b"n", "Two"), (b"b", "One")):
            os.write(fd, key)
            assert wanted in _read_until(fd, wanted, 3)
            time.sleep(1.0)
        os.write(fd, b"q")
        rest = _read_until(fd, "\0", 5)  # to the end (the underruns are said last)
    finally:
        code = _end_in_terminal(pid)
        os.close(fd)
    time.sleep(0.3)
    heard = recorder.stop()
    assert code == 0
    if "fell behind" in rest:
        pytest.skip("the machine was too busy: dropouts cannot be told from clicks")

    window = SESSION_RATE_HZ // 50
    steady, dips = _dips(heard, window)
    steps = np.abs(np.diff(heard))
    first, last = dips[0][0], dips[-1][1]
    normal = float(steps[first - 2 * SESSION_RATE_HZ : first - SESSION_RATE_HZ // 2].max())
    margin = round(0.4 * SESSION_RATE_HZ)  # covers each fade-out before and fade-in after
    around = [float(steps[a - margin : b + margin].max()) for a, b in dips]
    assert max(around) <= 1.5 * normal, (normal, around, steady)
    assert float(steps[last:].max()) <= 1.5 * normal, "the quit clicked"
    # The pause, then the skip's fade out and in, then back to the session's fade-in.
    assert len(dips) == 3, dips


@pytest.mark.live_s(7)
def test_skip_while_paused_is_kept_on_resume(sound_server: str, tmp_path: Path) -> None:
    script = tmp_path / "long.md"
    script.write_text(LONG)
    prepare_session(load_script(str(script)))
    pid, fd = _spawn_in_terminal("guide", str(script), "--delay", "0")
    try:
        assert "The first part." in _read_until(fd, "The first part.", 20)
        os.write(fd, b" ")
        assert "paused" in _read_until(fd, "paused", 3)
        os.write(fd, b"n")
        assert "Two" in _read_until(fd, "Two", 3)
        os.write(fd, b" ")
        time.sleep(1.5)
        heard = _read_until(fd, "\0", 0.5)  # what the display says after the resume
        os.write(fd, b"q")
        _read_until(fd, "completely fine", 5)
    finally:
        code = _end_in_terminal(pid)
        os.close(fd)
    assert code == 0
    last = heard.split("\x1b[H")[-1]  # the screen as last drawn
    assert "Two" in last and " 0:2" in last and "paused" not in last, heard


@pytest.mark.live_s(10)
def test_a_slow_preparation_is_not_counted_as_falling_behind(
    sound_server: str, tmp_path: Path
) -> None:
    """The quiet after the opening while the session is still being prepared is by design,
    not the device running dry. (Preparation is made slow by waiting: what is tested is the
    count, through a real device.)"""
    script = tmp_path / "short.md"
    script.write_text("Settle in.\n")
    prepare_session(load_script(str(script)))
    counted_while_preparing = []

    def slow_prepare() -> SessionMix:
        time.sleep(3.0)  # past the half-second opening, and PulseAudio's slow start
        counted_while_preparing.append(player.status.underruns)
        return prepare_session(load_script(str(script))).mix

    player = Player(slow_prepare, SESSION_RATE_HZ, prelude_s=0.5)
    player.start()
    player.wait(timeout_s=20)
    assert player.error is None and player.status.finished
    assert counted_while_preparing == [0]


def test_the_player_is_sample_exact_and_its_splices_are_smooth(tmp_path: Path) -> None:
    """The player's own output, taken block by block as the device would (no device: the
    claim is about what it hands over). Untouched, it is the render to the sample; pause,
    resume, skip and back add no step larger than the bed's own."""
    _write_tone(tmp_path / "tone.wav")
    script = tmp_path / "keys.md"
    script.write_text(TONE_SCRIPT)
    mix = prepare_session(load_script(str(script))).mix
    player = Player(lambda: mix, SESSION_RATE_HZ)
    player._producer = threading.Thread(target=player._produce, daemon=True)
    player._producer.start()
    device_frames = 551  # what PulseAudio asks for at a time here
    keys = {
        round(s * SESSION_RATE_HZ / device_frames): key
        for s, key in ((4.0, "pause"), (4.5, "resume"), (5.5, "skip"), (6.5, "back"))
    }
    heard = []
    for step in range(round(8 * SESSION_RATE_HZ / device_frames)):
        if step in keys:
            {"pause": player.toggle_pause, "resume": player.toggle_pause,
             "skip": lambda: player.skip(1), "back": lambda: player.skip(-1)}[keys[step]]()  # fmt: skip
        # Wait for the producer as long as it takes: the claim is what it hands over, not
        # its pace (a busy machine starved it past a 50 ms wait, and the gap read as a fault).
        # Not after a fade into a pause, whose silence is by design (the player counts it so).
        deadline = time.monotonic() + 5.0
        while (
            player._queue.empty()
            and (player._counting or not heard)
            and time.monotonic() < deadline
        ):
            time.sleep(0.001)
        out = np.zeros(device_frames, dtype=np.float32)
        player._fill(out, False)
        heard.append(out)
    player.close()
    played = np.concatenate(heard)

    master = Master(SESSION_RATE_HZ, session_gain_db(mix), LOSSLESS_CEILING_DBTP)
    block = round(0.1 * SESSION_RATE_HZ)
    rendered = np.concatenate(
        [master.process(mix.render(s, s + block)) for s in range(0, 5 * SESSION_RATE_HZ, block)]
    )
    untouched = round(3.5 * SESSION_RATE_HZ)
    assert np.max(np.abs(played[:untouched] - rendered[:untouched])) < 1e-6
    steps = np.abs(np.diff(played))
    normal = float(np.abs(np.diff(rendered)).max())  # the bed at its loudest, untouched
    assert float(steps[untouched:].max()) <= 1.2 * normal, (float(steps.max()), normal)
    assert player.status.underruns == 0
