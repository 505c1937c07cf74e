"""Speech engines: text in, mono float32 samples in [-1, 1] out, at the engine's own rate.

Each real engine lives in its own module and is imported only when a profile asks for it,
so a machine without Piper can still render with espeak-ng.
"""

from __future__ import annotations

import os
from typing import Protocol

import numpy as np

from ..errors import SelfkindError, SetupError
from ..voices import VoiceProfile


class SpeechEngine(Protocol):
    sample_rate_hz: int
    """Rate of the samples synthesize() returns, in Hertz."""

    def synthesize(self, text: str) -> np.ndarray:
        """Speak one utterance; mono float32 in [-1, 1]."""
        ...


_loaded = False
_cores: int | None = None


def share_cores(cores: int) -> None:
    """Let engines in this process use ``cores`` threads (a worker process gets its share
    of the machine, so workers side by side do not fight over the same cores). numpy's BLAS
    pool gets the same bound: the render path makes no BLAS call, but should one appear,
    its threads would spin on the other workers' cores."""
    from threadpoolctl import threadpool_limits

    global _cores
    _cores = max(1, cores)
    threadpool_limits(limits=_cores, user_api="blas")


def engine_threads() -> int:
    """Threads an engine's own pool may use: this process's share, else the cores it may
    run on."""
    if _cores is not None:
        return _cores
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def runs_in_one_process(profile: VoiceProfile) -> bool:
    """Whether an engine spreads itself over the cores, so synthesis needs no worker
    processes (Piper's onnxruntime does: one model, loaded once, on every core)."""
    return profile.engine == "piper"


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


VOICE_ENV = "SELFKIND_VOICE"
"""Names the voice a script without a ``voice:`` line speaks in, over the machine's choice."""
NATURAL_VOICE = "natural"
FALLBACK_VOICE = "default"


def default_voice() -> tuple[str, str]:
    """The voice for a script that names none, and why (one line for ``selfkind voices``).

    The natural Piper voice where it can speak; espeak-ng's ``default``, which every machine
    has, where it cannot; either overridden by $SELFKIND_VOICE.
    """
    import os

    from ..voices import load_voice

    chosen = os.environ.get(VOICE_ENV, "").strip()
    if chosen:
        return chosen, f"set by ${VOICE_ENV}"
    try:
        natural = load_voice(NATURAL_VOICE)
    except (KeyError, SelfkindError):
        return FALLBACK_VOICE, f"no '{NATURAL_VOICE}' voice profile"
    reason = unavailable_reason(natural)
    if reason is None:
        return NATURAL_VOICE, "Piper is installed"
    return (
        FALLBACK_VOICE,
        f"espeak-ng, which always works; {NATURAL_VOICE} cannot speak here: {reason}",
    )
