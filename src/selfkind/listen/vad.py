"""Voice activity: when has someone started speaking, and when have they finished?

Two detectors answer the same questions: Silero (``silero.py``), a small neural network
that tells voices from fans, traffic, a noise bed or a knock, used whenever it is installed
(it comes with faster-whisper); and the energy gate here, which needs nothing and stands in
without it.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from . import END_SILENCE_S
from .recognizers import RATE_HZ

MIN_SPEECH_S = 0.3
"""Speech shorter than this (a cough, a click) does not count as having started to speak."""


SPEECH_OVER_FLOOR_DB = 12.0
"""A block this much louder than the room's noise floor is speech..."""


SPEECH_MIN_DBFS = -50.0
"""...and never one quieter than this, however quiet the room."""


FLOOR_RISE_DB_PER_S = 0.5
"""How fast the noise-floor estimate may rise (it falls at once to a quieter block)."""


class VoiceActivity:
    """Decides, block by block, when someone has spoken and then finished.

    Energy against an adaptive noise floor: simple, cheap on the audio path, and robust
    to a steady room hum, which is what a quiet practice room sounds like.
    """

    def __init__(self, end_silence_s: float = END_SILENCE_S) -> None:
        self.end_silence_s = end_silence_s
        self.speech_s = 0.0
        self.quiet_s = 0.0
        self._floor_db: float | None = None

    @property
    def heard_speech(self) -> bool:
        return self.speech_s >= MIN_SPEECH_S

    def feed(self, block: np.ndarray, sample_rate_hz: int = RATE_HZ) -> bool:
        """Take float32 samples; True once the speaker has spoken and then been quiet."""
        if block.size == 0:
            return False
        block_s = block.size / sample_rate_hz
        level_db = 10 * np.log10(max(float(np.mean(np.square(block, dtype=np.float64))), 1e-12))
        if self._floor_db is None:
            self._floor_db = level_db
        self._floor_db = min(self._floor_db + FLOOR_RISE_DB_PER_S * block_s, level_db)
        if level_db > max(self._floor_db + SPEECH_OVER_FLOOR_DB, SPEECH_MIN_DBFS):
            self.speech_s += block_s
            self.quiet_s = 0.0
        elif self.heard_speech:
            self.quiet_s += block_s
        return self.heard_speech and self.quiet_s >= self.end_silence_s


class Detector(Protocol):
    """What the listener asks of a voice-activity detector."""

    end_silence_s: float
    speech_s: float
    quiet_s: float
    """Quiet since the last speech, in seconds; the listener sets it to 0 while paused."""

    @property
    def heard_speech(self) -> bool: ...

    def feed(self, block: np.ndarray, sample_rate_hz: int = RATE_HZ) -> bool: ...


def open_detector(end_silence_s: float = END_SILENCE_S) -> Detector:
    """Silero when it is installed, else the energy gate."""
    from . import silero

    if silero.available():
        return silero.SileroVoiceActivity(end_silence_s)
    return VoiceActivity(end_silence_s)
