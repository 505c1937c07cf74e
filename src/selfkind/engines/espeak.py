"""espeak-ng through pyttsx3, with pyttsx3 2.99's two traps disarmed.

1. ``runAndWait()`` returns as soon as synthesis *starts* (its queued ``endLoop`` runs first),
   so a longer clip is written after it returns, and may even land in the next call's file.
   We wait for the driver's ``finished-utterance`` notification, which it sends only after
   the WAV file is closed, with a time limit so a stuck engine cannot hang a render.
2. The driver prints ``Audio saved to ...`` for every clip, from espeak's callback thread.
   Only that print is silenced (see ``_quiet_driver``): pointing ``sys.stdout`` elsewhere
   while a clip was made, as we once did, is felt by every thread of the process.

A third, found here: a profile's settings can be silently dropped between clips, so a second
voice in the same process speaks at the first one's pace (see ``_configure``).
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes.util
import gc
import importlib.util
import os
import tempfile
import threading
import wave

import numpy as np

from ..errors import SetupError, SynthesisError
from ..voices import VoiceProfile

ESPEAK_RATE_HZ = 22050
"""pyttsx3's espeak driver always writes 16-bit mono WAV at this rate."""

_shared: tuple[object, threading.Event] | None = None
_applied: str | None = None
"""cache_identity() of the profile whose settings espeak-ng holds now."""
_lock = threading.Lock()


def unavailable_reason() -> str | None:
    """Why espeak-ng cannot speak here, or None; looks without starting it."""
    if importlib.util.find_spec("pyttsx3") is None:
        return "pyttsx3 is not installed (pip install pyttsx3==2.99)"
    if ctypes.util.find_library("espeak-ng") is None and ctypes.util.find_library("espeak") is None:
        return "espeak-ng is not installed (apt-get install espeak-ng)"
    return None


def _pyttsx3_engine() -> tuple[object, threading.Event]:
    """espeak-ng can be initialised only once per process, so every profile shares one."""
    global _shared, _applied
    if _shared is None:
        _applied = None
        try:
            import pyttsx3

            engine = pyttsx3.init("espeak")
        except ImportError:
            raise SetupError("pyttsx3 is missing: pip install pyttsx3==2.99") from None
        except (OSError, RuntimeError) as err:
            raise SetupError(
                f"espeak-ng could not start ({err}); install it with: apt-get install espeak-ng"
            ) from None
        _quiet_driver()
        atexit.register(_release)
        finished = threading.Event()
        engine.connect("finished-utterance", lambda **_: finished.set())
        _shared = (engine, finished)
    return _shared


def _quiet_driver() -> None:
    """Silence the driver's own ``print`` (its module's globals come before the builtins).

    ``contextlib.redirect_stdout`` around each clip did this before, but it swaps
    ``sys.stdout`` for the whole process: while the guide prepared its speech in a thread,
    the notes the main thread printed were lost, and a screen started then found no terminal
    and drew nothing. Found under load, where clips take longer."""
    from pyttsx3.drivers import espeak as driver

    driver.print = _discard  # type: ignore[attr-defined]


def _discard(*_args: object, **_kwargs: object) -> None:
    pass


def _release() -> None:
    """Let pyttsx3 shut its driver down while the interpreter is still whole; left to the
    interpreter's own teardown, its destructor fails and prints a traceback on exit."""
    global _shared
    # A clip still being made in another thread (a guide stopped while preparing) holds the
    # lock; tearing espeak-ng down under it would hang the exit, so leave it be then.
    if not _lock.acquire(timeout=1.0):
        return
    try:
        _shared = None
        gc.collect()
    finally:
        _lock.release()


class EspeakEngine:
    sample_rate_hz = ESPEAK_RATE_HZ

    def __init__(self, profile: VoiceProfile, timeout_s: float = 60.0) -> None:
        self.profile = profile
        self.timeout_s = timeout_s
        self._engine, self._finished = _pyttsx3_engine()
        self._dir = tempfile.mkdtemp(prefix="selfkind-espeak-")

    def _configure(self) -> None:
        # espeak-ng runs asynchronously: a setting only joins its command queue, and pyttsx3
        # cancels that queue at the start of a run if espeak-ng still counts as busy, which
        # it can briefly be after a clip. Settings lost that way make a clip speak at the
        # previous profile's pace. So: set each one on espeak-ng directly, then wait until
        # espeak-ng has applied them (Synchronize) before the next clip starts.
        # Loading a voice takes ~15 ms, so settings are applied only when the profile changes.
        global _applied
        identity = self.profile.cache_identity()
        if _applied == identity:
            return
        from pyttsx3.drivers import _espeak
        from pyttsx3.drivers.espeak import EspeakDriver

        _espeak.Synchronize()
        try:
            EspeakDriver.setProperty("voice", self.profile.voice)
        except ValueError as err:
            raise SetupError(f"espeak-ng has no voice '{self.profile.voice}': {err}") from None
        EspeakDriver.setProperty("rate", self.profile.rate_wpm)
        EspeakDriver.setProperty("pitch", self.profile.pitch)
        EspeakDriver.setProperty("volume", self.profile.volume)
        _espeak.Synchronize()
        _applied = identity

    def synthesize(self, text: str) -> np.ndarray:
        path = os.path.join(self._dir, "clip.wav")
        with _lock:
            self._configure()
            with contextlib.suppress(FileNotFoundError):
                os.remove(path)
            self._finished.clear()
            self._engine.save_to_file(text, path)  # type: ignore[attr-defined]
            self._engine.runAndWait()  # type: ignore[attr-defined]
            done = self._finished.wait(self.timeout_s)
            if not done:
                raise SynthesisError(
                    f"espeak-ng did not finish within {self.timeout_s:.0f}s: {text[:60]!r}"
                )
            with wave.open(path, "rb") as clip:
                frames = clip.readframes(clip.getnframes())
            os.remove(path)
        return np.frombuffer(frames, dtype="<i2").astype(np.float32) / 32768.0

    def __del__(self) -> None:
        with contextlib.suppress(OSError):
            os.rmdir(getattr(self, "_dir", ""))
