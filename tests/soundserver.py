"""A real PulseAudio server with a null sink, for machines without a sound card.

Used by the test fixture and by scripts/bench.py. PortAudio reaches the server through
ALSA's pulse plugin; what is played into the sink can be recorded from its monitor.
"""

from __future__ import annotations

import contextlib
import os
import queue
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

SINK = "selfkind_null"


def ensure_null_sink(runtime_dir: Path) -> bool:
    """Use the running server, or start one in ``runtime_dir``; make the null sink the
    default output. Returns whether a server was started here (stop it with stop_server)."""
    started = False
    if subprocess.run(["pactl", "info"], capture_output=True).returncode != 0:
        runtime_dir.mkdir(parents=True, exist_ok=True)
        runtime_dir.chmod(0o700)
        os.environ["XDG_RUNTIME_DIR"] = str(runtime_dir)
        subprocess.run(
            ["pulseaudio", "--daemonize=yes", "--exit-idle-time=-1", "-n",
             "--load=module-native-protocol-unix", "--load=module-always-sink"],
            check=True, capture_output=True,
        )  # fmt: skip
        started = True
    sinks = subprocess.run(["pactl", "list", "short", "sinks"], capture_output=True, text=True)
    if SINK not in sinks.stdout:
        subprocess.run(
            ["pactl", "load-module", "module-null-sink", f"sink_name={SINK}"],
            check=True, capture_output=True,
        )  # fmt: skip
    subprocess.run(["pactl", "set-default-sink", SINK], check=True)
    return started


def stop_server() -> None:
    subprocess.run(["pulseaudio", "--kill"], capture_output=True)


@contextlib.contextmanager
def own_server(runtime_dir: Path) -> Iterator[str]:
    """A server of our own in ``runtime_dir``, stopped on the way out; yields the null sink.

    Pointing XDG_RUNTIME_DIR at a new folder first means a person's own server is never
    used (ensure_null_sink would make the null sink its default output, and their sound
    would go nowhere). Processes started meanwhile inherit the folder, and so the server."""
    saved = os.environ.get("XDG_RUNTIME_DIR")
    os.environ["XDG_RUNTIME_DIR"] = str(runtime_dir)
    try:
        ensure_null_sink(runtime_dir)
        yield SINK
    finally:
        stop_server()
        if saved is None:
            os.environ.pop("XDG_RUNTIME_DIR", None)
        else:
            os.environ["XDG_RUNTIME_DIR"] = saved


MIC = "selfkind_mic"


class PipeMicrophone:
    """A microphone for a machine without one: PulseAudio's pipe source, made the default
    input, fed at real-time pace from a thread (room silence unless :meth:`say` queued
    speech). Programs record from it through PortAudio as from any microphone.

    A null sink's monitor would also do, but through ALSA's pulse plugin it starts
    delivering only after about two seconds; a pipe source starts at once, like a card.
    """

    BLOCK_S = 0.05

    def __init__(self, runtime_dir: Path, sample_rate_hz: int = 16000) -> None:
        self.sample_rate_hz = sample_rate_hz
        self.fifo = runtime_dir / "selfkind-mic.fifo"
        modules = subprocess.run(["pactl", "list", "short", "modules"], capture_output=True,
                                 text=True).stdout  # fmt: skip
        if f"source_name={MIC}" not in modules:
            subprocess.run(
                ["pactl", "load-module", "module-pipe-source", f"source_name={MIC}",
                 f"file={self.fifo}", "format=s16le", f"rate={sample_rate_hz}", "channels=1"],
                check=True, capture_output=True,
            )  # fmt: skip
        subprocess.run(["pactl", "set-default-source", MIC], check=True)
        self._speech: queue.Queue[bytes | None] = queue.Queue()
        self._stop = threading.Event()
        self.spoken = threading.Event()
        """Set when everything queued by :meth:`say` has been fed."""
        self.spoken.set()
        self._thread = threading.Thread(target=self._feed, name="pipe-mic", daemon=True)
        self._thread.start()

    def say(self, samples: np.ndarray) -> None:
        """Queue mono float32 samples at ``sample_rate_hz`` to be 'spoken' into the mic."""
        self.spoken.clear()
        pcm = (np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes()
        step = round(self.BLOCK_S * self.sample_rate_hz) * 2
        for start in range(0, len(pcm), step):
            self._speech.put(pcm[start : start + step])
        self._speech.put(None)  # the end of this speech

    def _feed(self) -> None:
        silence = bytes(round(self.BLOCK_S * self.sample_rate_hz) * 2)
        fd = os.open(self.fifo, os.O_WRONLY)
        os.set_blocking(fd, False)
        began, n_blocks = time.monotonic(), 0
        try:
            while not self._stop.is_set():
                try:
                    block = self._speech.get_nowait()
                except queue.Empty:
                    block = silence
                if block is None:
                    self.spoken.set()
                    block = silence
                try:
                    os.write(fd, block.ljust(len(silence), b"\0"))
                except BlockingIOError:
                    pass  # nobody is reading: like a microphone nobody listens to
                n_blocks += 1
                time.sleep(max(0.0, began + n_blocks * self.BLOCK_S - time.monotonic()))
        finally:
            os.close(fd)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
