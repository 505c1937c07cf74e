"""Speech engines: text in, mono float32 samples in [-1, 1] out, at the engine's own rate.

Each real engine lives in its own module and is imported only when a profile asks for it,
so a machine without Piper can still render with espeak-ng.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from ..errors import SetupError
from ..voices import VoiceProfile


class SpeechEngine(Protocol):
    sample_rate_hz: int
    """Rate of the samples synthesize() returns, in Hertz."""

    def synthesize(self, text: str) -> np.ndarray:
        """Speak one utterance; mono float32 in [-1, 1]."""
        ...


_loaded = False


def engine_loaded() -> bool:
    """Whether this process has started a speech engine (and so must not fork workers)."""
    return _loaded


def open_engine(profile: VoiceProfile) -> SpeechEngine:
    """Load the engine a profile names, once; raises SetupError when it is not installed."""
    global _loaded
    _loaded = True
    if profile.engine == "espeak":
        from .espeak import EspeakEngine

        return EspeakEngine(profile)
    if profile.engine == "piper":
        from .piper import PiperEngine

        return PiperEngine(profile)
    raise SetupError(f"voice '{profile.name}' names an unknown engine '{profile.engine}'")


def unavailable_reason(profile: VoiceProfile) -> str | None:
    """Why a profile cannot speak on this machine (one line, saying what to install), or None.

    Checks what is installed without starting the engine.
    """
    if profile.engine == "espeak":
        from .espeak import unavailable_reason as espeak_reason

        return espeak_reason()
    if profile.engine == "piper":
        from .piper import unavailable_reason as piper_reason

        return piper_reason(profile)
    return f"unknown engine '{profile.engine}'"
