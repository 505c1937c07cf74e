"""Session lengths estimated from the text alone, without synthesizing a word.

Listing the practices must answer at once on a machine that has never spoken (synthesizing
every practice took 6 s), so each utterance's length is estimated from its characters and
punctuation at the voice's pace. The figures are approximate (shown with ``~``); a render or
``selfkind check`` still fits the real speech to the sample.

The constants were fitted to espeak-ng's English voice at 135 words per minute over all 121
utterances of the built-in practices (one utterance was 17% off at most; the totals agree).
"""

from __future__ import annotations

import re

from .script import Script
from .timeline import length_range_s, utterances
from .voices import VoiceProfile

ESTIMATE_RATE_HZ = 1000
"""The length fit works in frames; milliseconds are fine enough for an estimate."""
_CALIBRATED_WPM = 135
_SECONDS_PER_CHAR = 0.0613
_SECONDS_PER_BREAK = 0.436
_SECONDS_OFFSET = -0.313
_PIPER_PACE = 0.73
"""Piper's en_US-joe-medium at length_scale 1 against espeak-ng at 135 wpm (fitted on the
first 12 utterances of self-compassion-break; on a-warm-breath's first 12 the totals
agree within 1%, one utterance 13% off)."""
_MIN_UTTERANCE_S = 0.3
_BREAKS = re.compile(r"[.,;:!?]")


def estimated_speech_s(text: str, voice: VoiceProfile) -> float:
    """About how long ``voice`` takes to say ``text``, in seconds."""
    at_calibration = (
        len(text) * _SECONDS_PER_CHAR
        + len(_BREAKS.findall(text)) * _SECONDS_PER_BREAK
        + _SECONDS_OFFSET
    )
    # espeak's pace is its rate; Piper's is its length scale.
    if voice.engine == "piper":
        pace = voice.length_scale * _PIPER_PACE
    else:
        pace = _CALIBRATED_WPM / voice.rate_wpm
    return max(at_calibration * pace, _MIN_UTTERANCE_S)


def estimated_length_range_s(script: Script, voice: VoiceProfile) -> tuple[float, float]:
    """About the shortest and longest session ``script`` can make in ``voice``, in seconds,
    with no synthesis (see the module's note on accuracy)."""
    frames = {
        text: round(estimated_speech_s(text, voice) * ESTIMATE_RATE_HZ)
        for text in utterances(script)
    }
    return length_range_s(script, frames, ESTIMATE_RATE_HZ, voice.gap_s, voice.breath_s)
