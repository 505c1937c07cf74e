"""Timeline -> samples, one block at a time, at any position.

:class:`SessionMix` renders any frame range of a session on demand: speech clips where the
timeline places them, bell strikes ringing on under what follows, and the ambience bed ducked
while the voice speaks. Nothing holds more than a block and a few clips, so a two-hour session
needs no more memory than a five-minute one, and the live guide can seek or skip freely.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from .levels import BELL_UNDER_VOICE_DB, CLIP_LUFS, TARGET_LUFS
from .loudness import PairMeter
from .sounds import BELL_RING_S, LoopedSource, bell_gain, bell_strike
from .timeline import BELL_INTERVAL_S, Timeline

BLOCK_S = 0.5
"""Default block length: short enough for a live player to react quickly."""
_ENVELOPE_STEP = 64
"""Frames between points of the ducking envelope (about 3 ms)."""
PLAN_CORRECTION_DB = (1.0, 4.0)
"""How far under and over its planned gain a session's measured gain may go."""
PLAN_LIMITER_LOSS_DB = 0.1
MEASURE_BLOCK_S = 10.0
"""Blocks in which the mix is measured: a whole number of the meter's 100 ms steps."""


@dataclass(frozen=True)
class MixSettings:
    """Levels are relative to the voice, whose clips all sit at the same loudness."""

    voice_lufs: float = -18.0
    """Loudness the speech clips were leveled to."""
    background_level_db: float = -28.0
    """Ambience loudness under the voice while the voice is silent."""
    duck_db: float = 8.0
    """How much further the ambience drops while the voice speaks."""
    duck_attack_s: float = 0.4
    duck_release_s: float = 1.5
    bell_level_db: float = BELL_UNDER_VOICE_DB
    """Short-term loudness of a bell strike at its loudest, relative to the voice's clips."""
    fade_in_s: float = 2.0
    fade_out_s: float = 3.0


class ClipSource(Protocol):
    def clip(self, text: str) -> np.ndarray:
        """The prepared clip for an utterance; exactly as long as its speech event."""
        ...


class SessionMix:
    def __init__(
        self,
        timeline: Timeline,
        clips: ClipSource,
        settings: MixSettings,
        ambience: LoopedSource | None = None,
    ) -> None:
        self.timeline = timeline
        self.clips = clips
        self.settings = settings
        self.ambience = ambience
        rate = timeline.sample_rate_hz
        self.sample_rate_hz = rate
        self.n_frames = timeline.n_frames
        speech = timeline.of_kind("speech")
        self._speech_text = [e.text for e in speech]
        self._speech_start = np.array([e.start_frame for e in speech], dtype=np.int64)
        self._speech_end = np.array([e.end_frame for e in speech], dtype=np.int64)
        interval = round(BELL_INTERVAL_S * rate)
        self._strikes = np.array(
            sorted(
                e.start_frame + k * interval
                for e in timeline.of_kind("bell")
                for k in range(e.count)
            ),
            dtype=np.int64,
        )
        self._bell = np.zeros(0, dtype=np.float32)
        if self._strikes.size:
            target_lufs = settings.voice_lufs + settings.bell_level_db
            self._bell = bell_strike(rate) * np.float32(bell_gain(rate, target_lufs))
        self._planned_bell = self._bell
        self._bell_frames = round(BELL_RING_S * rate)

    def set_bell_offset(self, gain: float) -> None:
        """Scale the bells against the rest of the mix (1 as planned, 0 silent).

        A master gain that corrects the voice's level (:func:`session_gain_db`) moves the
        bells back by as much, so a bell rings at the same level in every session.
        """
        self._bell = self._planned_bell * np.float32(gain)

    def render(self, start_frame: int, stop_frame: int) -> np.ndarray:
        """Samples for frames [start_frame, stop_frame) of the session, mono float32."""
        stop_frame = min(stop_frame, self.n_frames)
        n = max(stop_frame - start_frame, 0)
        out = np.zeros(n, dtype=np.float32)
        if n == 0:
            return out
        self._add_speech(out, start_frame, stop_frame)
        self._add_bells(out, start_frame, stop_frame)
        if self.ambience is not None:
            out += self.ambience.read(start_frame, n) * self._ambience_gain(start_frame, stop_frame)
        self._apply_fades(out, start_frame)
        return out

    def render_bells(self, start_frame: int, stop_frame: int) -> np.ndarray:
        """Only the bells of frames [start_frame, stop_frame), faded as :meth:`render` fades
        them: the part of the mix a master gain correction leaves where it is."""
        stop_frame = min(stop_frame, self.n_frames)
        out = np.zeros(max(stop_frame - start_frame, 0), dtype=np.float32)
        if out.size and self._strikes.size:
            self._add_bells(out, start_frame, stop_frame)
            self._apply_fades(out, start_frame)
        return out

    def blocks(self, block_frames: int | None = None, start_frame: int = 0) -> Iterator[np.ndarray]:
        step = block_frames or round(BLOCK_S * self.sample_rate_hz)
        for start in range(start_frame, self.n_frames, step):
            yield self.render(start, start + step)

    def _add_speech(self, out: np.ndarray, start: int, stop: int) -> None:
        first = int(np.searchsorted(self._speech_end, start, side="right"))
        last = int(np.searchsorted(self._speech_start, stop, side="left"))
        for index in range(first, last):
            clip = self.clips.clip(self._speech_text[index])
            begin = int(self._speech_start[index])
            lo, hi = max(start, begin), min(stop, begin + clip.size)
            if hi > lo:
                out[lo - start : hi - start] += clip[lo - begin : hi - begin]

    def _add_bells(self, out: np.ndarray, start: int, stop: int) -> None:
        first = int(np.searchsorted(self._strikes, start - self._bell_frames, side="right"))
        last = int(np.searchsorted(self._strikes, stop, side="left"))
        for strike in self._strikes[first:last].tolist():
            lo, hi = max(start, strike), min(stop, strike + self._bell_frames)
            if hi > lo:
                out[lo - start : hi - start] += self._bell[lo - strike : hi - strike]

    def _ambience_gain(self, start: int, stop: int) -> np.ndarray | np.float32:
        """Level of the bed for each frame: lower, with smooth ramps, while the voice speaks.

        The ramps last hundreds of milliseconds, so the level is computed every
        _ENVELOPE_STEP frames and held between: steps of a few hundredths of a dB.
        """
        settings, rate = self.settings, self.sample_rate_hz
        attack, release = settings.duck_attack_s * rate, settings.duck_release_s * rate
        first = int(np.searchsorted(self._speech_end, start - release, side="right"))
        last = int(np.searchsorted(self._speech_start, stop + attack, side="left"))
        # The bed was leveled to voice_lufs, so only its offset below the voice is applied.
        if first >= last:
            return np.float32(10 ** (settings.background_level_db / 20))
        points = np.arange(start, stop, _ENVELOPE_STEP, dtype=np.float64)
        duck = np.zeros(points.size)
        for index in range(first, last):
            begin, end = float(self._speech_start[index]), float(self._speech_end[index])
            shape = np.interp(points, [begin - attack, begin, end, end + release], [0, 1, 1, 0])
            np.maximum(duck, shape, out=duck)
        level_db = settings.background_level_db - settings.duck_db * duck
        coarse = (10 ** (level_db / 20)).astype(np.float32)
        return np.repeat(coarse, _ENVELOPE_STEP)[: stop - start]

    def _apply_fades(self, out: np.ndarray, start: int) -> None:
        rate = self.sample_rate_hz
        fade_in = round(self.settings.fade_in_s * rate)
        fade_out = round(self.settings.fade_out_s * rate)
        if start >= fade_in and start + out.size <= self.n_frames - fade_out:
            return  # most blocks: no fade, and no frame numbers to make
        frames = np.arange(start, start + out.size)
        if start < fade_in:
            ramp = np.clip(frames / fade_in, 0, 1)
            out *= (np.sin(ramp * np.pi / 2) ** 2).astype(np.float32)
        if start + out.size > self.n_frames - fade_out:
            ramp = np.clip((self.n_frames - frames) / fade_out, 0, 1)
            out *= (np.sin(ramp * np.pi / 2) ** 2).astype(np.float32)


def session_gain_db(mix: SessionMix) -> float:
    """The master gain that brings this session's mix to TARGET_LUFS (and the bells, moved
    back by the correction, to where the plan puts them in every session). Files and the
    live guide both master with it, so a session sounds as loud heard live as from its file.

    Clips sit at CLIP_LUFS, so TARGET_LUFS - CLIP_LUFS is right for a session that is mostly
    speech; one with little speech (bells, long silences) measures quieter. One pass over
    the mix (no mastering, no encoding) measures it, the bells apart from the rest, so the
    loudness at any gain is known (see PairMeter) and the gain is found exactly, within
    PLAN_CORRECTION_DB so a near-silent session is never pumped up. A session with no speech
    at all (a timer) keeps the plan: there is no voice to match. The pass costs about 0.6 s
    of one core per hour of speech over a bed, less for silence; the guide makes it while
    its opening bell sounds.
    """
    planned = TARGET_LUFS - CLIP_LUFS
    if not mix.timeline.of_kind("speech"):
        return planned  # a timer: its bells ring as loud as in any practice
    low, high = planned - PLAN_CORRECTION_DB[0], planned + PLAN_CORRECTION_DB[1]
    mix.set_bell_offset(1.0)
    meter = PairMeter(mix.sample_rate_hz)
    step = round(MEASURE_BLOCK_S * mix.sample_rate_hz)
    for start in range(0, mix.n_frames, step):
        bells = mix.render_bells(start, start + step)
        meter.add(mix.render(start, start + step) - bells, bells)
    bells_gain = 10 ** (planned / 20)

    def landed(gain_db: float) -> float:
        """Loudness of the output at this master gain, the bells held at the plan's level;
        the limiter takes a little off the loudest syllables (PLAN_LIMITER_LOSS_DB)."""
        return meter.integrated_lufs(10 ** (gain_db / 20), bells_gain) - PLAN_LIMITER_LOSS_DB

    if landed(planned) <= -70:
        gain_db = planned  # nothing audible to measure
    elif landed(high) <= TARGET_LUFS:
        gain_db = high
    elif landed(low) >= TARGET_LUFS:
        gain_db = low
    else:
        while high - low > 0.001:  # louder with more gain: halve the range (13 steps)
            middle = (low + high) / 2
            low, high = (middle, high) if landed(middle) < TARGET_LUFS else (low, middle)
        gain_db = (low + high) / 2
    mix.set_bell_offset(10 ** ((planned - gain_db) / 20))
    return gain_db
