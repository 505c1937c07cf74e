"""The sound card, through PortAudio (sounddevice): listing devices, playing a clip, and
the microphone. The guide's output stream lives in guide.py, beside the player it feeds."""

from __future__ import annotations

import contextlib
import io
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from .dsp import Decimator
from .errors import SetupError


def _sounddevice():  # noqa: ANN202 - the module, imported late: PortAudio may be missing
    try:
        import sounddevice
    except OSError:
        raise SetupError(
            "PortAudio is missing; install it with: apt-get install libportaudio2"
        ) from None
    return sounddevice


@contextlib.contextmanager
def native_messages_to(log_path: Path) -> Iterator[None]:
    """Keep what the C libraries under PortAudio print off the person's terminal, in
    ``log_path`` instead (replaced each time); Python's own ``sys.stderr`` still reaches them.

    PortAudio ("Expression '...' failed in 'src/hostapi/alsa/pa_linux_alsa.c'") and ALSA
    ("ALSA lib pcm.c: ... underrun occurred") write straight to file descriptor 2, so fd 2
    is pointed at a pipe that a thread copies into the log, and ``sys.stderr`` at a copy of
    the real fd 2. Processes started meanwhile inherit the pipe as their stderr, so what
    they print is logged too.
    """
    try:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(log_path, "wb")  # noqa: SIM115 - closed by the copying thread
    except OSError:
        log = open(os.devnull, "wb")  # noqa: SIM115 - nowhere to keep them: drop them
    sys.stderr.flush()
    terminal_fd = os.dup(2)
    read_fd, write_fd = os.pipe()
    os.dup2(write_fd, 2)
    os.close(write_fd)
    saved_stderr = sys.stderr
    copier = threading.Thread(target=_copy, args=(read_fd, log), name="stderr-log", daemon=True)
    copier.start()
    try:
        if _writes_to_fd2(saved_stderr):
            sys.stderr = os.fdopen(
                os.dup(terminal_fd), "w", buffering=1, errors="backslashreplace",
                encoding=saved_stderr.encoding or "utf-8",
            )  # fmt: skip
        yield
    finally:
        sys.stderr.flush()
        os.dup2(terminal_fd, 2)  # closes the pipe's last writer here: the copier sees the end
        os.close(terminal_fd)
        if sys.stderr is not saved_stderr:
            sys.stderr.close()
            sys.stderr = saved_stderr
        copier.join(timeout=0.5)  # a child still holding the pipe must not keep us waiting


def _writes_to_fd2(stream: object) -> bool:
    try:
        return stream.fileno() == 2  # type: ignore[attr-defined]
    except (AttributeError, OSError, ValueError):
        return False  # replaced already (a test capturing output): leave it alone


def _copy(read_fd: int, log: io.BufferedWriter) -> None:
    with log, os.fdopen(read_fd, "rb", buffering=0) as pipe:
        while chunk := pipe.read(4096):
            log.write(chunk)
            log.flush()


def list_devices() -> list[dict]:
    """Every device PortAudio sees, with which defaults it is ('input', 'output')."""
    sd = _sounddevice()
    default_in, default_out = sd.default.device
    devices = []
    for index, device in enumerate(sd.query_devices()):
        entry = dict(device)
        entry["index"] = index
        entry["default_for"] = [
            role for role, number in (("input", default_in), ("output", default_out))
            if number == index
        ]  # fmt: skip
        devices.append(entry)
    return devices


def play(samples: np.ndarray, sample_rate_hz: int, device: str | int | None = None) -> None:
    """Play mono samples to the end; raises SetupError when there is nowhere to play them."""
    sd = _sounddevice()
    try:
        sd.play(np.asarray(samples, dtype=np.float32), sample_rate_hz, device=device)
        sd.wait()
    except (sd.PortAudioError, ValueError) as err:
        raise SetupError(
            f"no sound output device to play on ({err}); write a file instead with -o FILE"
        ) from None


MIC_RATE_FACTORS = (1, 2, 3, 6)
"""Multiples of the wanted rate tried in turn (16 kHz, then 32 and 48 kHz, ...): a sound
card that cannot record at the recognizer's rate is decimated to it."""


class Microphone:
    """Mono input at ``sample_rate_hz`` as float32 blocks, delivered to ``on_block`` from
    PortAudio's thread. The callback only converts and hands over; the caller must not do
    slow work in ``on_block`` (put the block on a queue)."""

    def __init__(
        self,
        sample_rate_hz: int,
        on_block: Callable[[np.ndarray], None],
        device: int | str | None = None,
        block_s: float = 0.1,
    ) -> None:
        sd = _sounddevice()
        self._on_block = on_block
        errors = []
        self._stream = None
        for factor in MIC_RATE_FACTORS:
            try:
                self._stream = sd.InputStream(
                    samplerate=sample_rate_hz * factor, channels=1, dtype="float32",
                    blocksize=round(block_s * sample_rate_hz * factor), device=device,
                    callback=self._callback,
                )  # fmt: skip
            except (sd.PortAudioError, ValueError) as err:
                errors.append(str(err))
                continue
            self._decimator = Decimator(factor)
            return
        raise SetupError(
            f"no microphone could be opened ({errors[0]}); check 'selfkind devices' and"
            " choose one with --input-device"
        )

    def _callback(self, indata: np.ndarray, _frames: int, _time: object, _status: object) -> None:
        self._on_block(self._decimator.process(indata[:, 0].copy()))

    def start(self) -> None:
        assert self._stream is not None
        self._stream.start()

    def close(self) -> None:
        """Stop listening at once; safe to call more than once. Aborts rather than stops:
        PortAudio's stop waits for the device, and waits for ever on a suspended source
        (pasuspender, another program taking the card), which sends nothing and no error.
        Abort returns at once (under a millisecond, suspended or not); what it drops is
        audio the device had not yet handed over, at most the stream's latency (0.2 s from
        PulseAudio here), from after the moment listening ended."""
        stream, self._stream = self._stream, None
        if stream is not None:
            stream.abort()
            stream.close()

    @property
    def active(self) -> bool:
        return self._stream is not None and bool(self._stream.active)


def microphone_problem(device: int | str | None = None) -> str:
    """Why no microphone can be used ('' when one can), without opening it."""
    try:
        sd = _sounddevice()
        sd.query_devices(device, "input")
    except SetupError as err:
        return str(err)
    except Exception as err:  # PortAudioError, or ValueError for no such device
        detail = str(err).split("\n")[0]
        return (
            f"no microphone was found ({detail}); see 'selfkind devices' and choose one with"
            " --input-device"
        )
    return ""


class Speaker:
    """Mono float32 output at ``sample_rate_hz``, pulled block by block from ``fill`` on
    PortAudio's thread. ``fill(out, underflow)`` writes ``out`` in place and returns True
    when the sound is over (the stream then drains and ``on_finished`` is called). As with
    the microphone, ``fill`` must only copy samples prepared elsewhere.

    ``on_finished`` is also called when the device goes away (the sound server stopped) and
    when the stream is closed. A device that is suspended calls neither: it just stops
    asking, which :attr:`callbacks` lets the caller notice."""

    def __init__(
        self,
        sample_rate_hz: int,
        fill: Callable[[np.ndarray, bool], bool],
        on_finished: Callable[[], None],
        device: int | str | None = None,
        latency_s: float = 0.1,
    ) -> None:
        self._sd = _sounddevice()
        self._fill = fill
        self.callbacks = 0
        """How many times the device has asked for audio."""
        self.last_callback_s = time.monotonic()
        """When it last asked (time.monotonic)."""
        self.underflows = 0
        """How many times it ran dry; PulseAudio then restarts it, silent for up to 2 s."""
        self._stream = self._sd.OutputStream(
            samplerate=sample_rate_hz, channels=1, dtype="float32", blocksize=0,
            latency=latency_s, device=device, callback=self._callback,
            finished_callback=on_finished,
        )  # fmt: skip

    def _callback(self, outdata: np.ndarray, _frames: int, _time: object, status: object) -> None:
        self.callbacks += 1
        self.last_callback_s = time.monotonic()
        underflow = bool(getattr(status, "output_underflow", False))
        self.underflows += underflow
        if self._fill(outdata[:, 0], underflow):
            raise self._sd.CallbackStop

    def start(self) -> None:
        self._stream.start()

    @property
    def active(self) -> bool:
        return bool(self._stream.active)

    def close(self) -> None:
        """Close at once, dropping what the device still holds. PortAudio's stop waits for
        the device to play it out, and waits for ever on a suspended sink; abort does not
        wait (measured: under a millisecond, suspended or not)."""
        self._stream.abort()
        self._stream.close()
