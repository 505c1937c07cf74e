"""Sounds the program makes itself: the singing-bowl bell and the ambience beds.

No asset is downloaded or shipped. Every sound is computed from fixed numbers and fixed
random seeds, so the same session renders to the same samples on every run.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from .loudness import integrated_lufs

BELL_RING_S = 16.0
"""How long one strike is allowed to ring before it has decayed below hearing."""
NOISE_LOOP_S = 47.0
"""Length of the generated noise loop; an odd length so its seam never lines up with bells."""
LOOP_CROSSFADE_S = 3.0
BELL_ATTACK_S = 0.02
"""Time constant of a strike's swell: 95% of its level after three of them (60 ms)."""
SHORT_TERM_S = 3.0
"""EBU R128's short-term window: what a listener hears as "how loud it is just now"."""

# A struck bowl's ring modes are not harmonic. Each row: frequency ratio to the fundamental,
# relative amplitude, decay time constant in seconds, and how far (Hz) the mode's two
# near-degenerate halves are split, which is what makes a real bowl shimmer.
_BOWL_FUNDAMENTAL_HZ = 246.0
_BOWL_MODES = (
    (1.000, 1.00, 7.5, 0.9),
    (2.756, 0.55, 4.2, 1.6),
    (5.130, 0.28, 2.3, 2.3),
    (8.180, 0.12, 1.2, 3.1),
    (11.90, 0.05, 0.6, 4.0),
)


@functools.lru_cache(maxsize=4)
def bell_strike(sample_rate_hz: int) -> np.ndarray:
    """One strike of a singing bowl, BELL_RING_S long, with a soft mallet attack.

    Computed once per process (a batch worker renders many sessions); treat as read-only.
    """
    n = round(BELL_RING_S * sample_rate_hz)
    t = np.arange(n) / sample_rate_hz
    tone = np.zeros(n)
    nyquist_hz = sample_rate_hz / 2
    for ratio, amplitude, decay_s, split_hz in _BOWL_MODES:
        freq_hz = _BOWL_FUNDAMENTAL_HZ * ratio
        if freq_hz + split_hz >= nyquist_hz * 0.9:
            continue
        envelope = amplitude * np.exp(-t / decay_s)
        phase = 2 * math.pi * ratio  # a fixed, mode-dependent start phase
        pair = np.sin(2 * math.pi * freq_hz * t + phase) + 0.8 * np.sin(
            2 * math.pi * (freq_hz + split_hz) * t + 2 * phase
        )
        tone += envelope * pair
    # A soft felt mallet: the sound swells over ~50 ms rather than arriving as a knock, so a
    # bell after a long silence invites attention instead of startling.
    attack = 1 - np.exp(-t / BELL_ATTACK_S)
    # Close the tail to exact silence so no strike ends with a step.
    release = np.clip((BELL_RING_S - t) / 1.0, 0, 1) ** 2
    strike = (tone * attack * release / np.max(np.abs(tone * attack * release))).astype(np.float32)
    strike.setflags(write=False)
    return strike


@functools.lru_cache(maxsize=4)
def noise_loop(kind: str, sample_rate_hz: int) -> np.ndarray:
    """NOISE_LOOP_S of pink or brown noise (seeded) that repeats without a seam.

    The noise is shaped in the frequency domain (pink falls 3 dB per octave, brown 6 dB),
    which makes it exactly periodic: its end flows into its start.
    """
    if kind not in ("pink-noise", "brown-noise"):
        raise ValueError(f"no built-in noise called {kind!r}")
    n = round(NOISE_LOOP_S * sample_rate_hz)
    rng = np.random.default_rng(20261124 if kind == "pink-noise" else 20261125)
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freq_hz = np.fft.rfftfreq(n, 1 / sample_rate_hz)
    freq_hz[0] = 1.0
    slope = freq_hz ** (-0.5 if kind == "pink-noise" else -1.0)
    # Second-order roll-offs: below 25 Hz (rumble no speaker can play) and above 6 kHz, so
    # the bed is something to rest on, not a bright hiss.
    highpass = (freq_hz / 25.0) ** 2 / np.sqrt(1 + (freq_hz / 25.0) ** 4)
    lowpass = 1 / np.sqrt(1 + (freq_hz / 6000.0) ** 4)
    spectrum *= slope * highpass * lowpass
    spectrum[0] = 0.0
    colored = np.fft.irfft(spectrum, n)
    loop = (colored / np.max(np.abs(colored))).astype(np.float32)
    loop.setflags(write=False)
    return loop


class LoopedSource:
    """Endless playback of a finite clip, read at any position, with a crossfaded seam.

    The loop's period is the clip length less the crossfade; the clip's last ``crossfade_s``
    fades out over its first seconds with equal power, so no seam can be heard. A clip that
    is already periodic (the generated noise) needs no crossfade.
    Reading is random access, so a live player can seek without replaying from the start.
    """

    def __init__(
        self,
        samples: np.ndarray,
        sample_rate_hz: int,
        gain: float = 1.0,
        crossfade_s: float = LOOP_CROSSFADE_S,
    ) -> None:
        fade = min(round(crossfade_s * sample_rate_hz), len(samples) // 3)
        self.samples = samples
        self.gain = gain
        self.fade_frames = fade
        self.period_frames = len(samples) - fade
        ramp = np.linspace(0.0, 1.0, fade, endpoint=False) if fade else np.zeros(0)
        self._fade_in = np.sin(ramp * math.pi / 2).astype(np.float32)
        self._fade_out = np.cos(ramp * math.pi / 2).astype(np.float32)

    def read(self, start_frame: int, n_frames: int) -> np.ndarray:
        # Whole runs of the loop copied as slices (one per pass through it), not gathered
        # frame by frame: this runs for every block of a session.
        out = np.empty(n_frames, dtype=np.float32)
        period, fade = self.period_frames, self.fade_frames
        position, done = start_frame % period, 0
        while done < n_frames:
            take = min(n_frames - done, period - position)
            piece = out[done : done + take]
            piece[:] = self.samples[position : position + take]
            if position < fade:
                k = min(fade - position, take)
                tail = np.asarray(self.samples[position + period : position + period + k])
                piece[:k] = (
                    piece[:k] * self._fade_in[position : position + k]
                    + tail * self._fade_out[position : position + k]
                )
            done, position = done + take, 0
        return out * self.gain if self.gain != 1.0 else out


def bell_gain(sample_rate_hz: int, short_term_lufs: float) -> float:
    """The gain that puts a strike's loudest short-term loudness (its first SHORT_TERM_S,
    where it rings loudest) at ``short_term_lufs``.

    A bell is leveled by how loud it is when struck, not by its integrated loudness over a
    long ring (which sits far under the strike and made it too loud against the voice).
    """
    strike = bell_strike(sample_rate_hz)
    return leveled(strike[: round(SHORT_TERM_S * sample_rate_hz)], sample_rate_hz, short_term_lufs)


def leveled(samples: np.ndarray, sample_rate_hz: int, target_lufs: float) -> float:
    """The gain that brings a sound to a loudness; 0 for silence."""
    measured = integrated_lufs(samples, sample_rate_hz)
    if measured <= -100:
        return 0.0
    return float(10 ** ((target_lufs - measured) / 20))


LISTEN_CUE_S = 0.6


@functools.lru_cache(maxsize=4)
def listen_cue(sample_rate_hz: int, opening: bool) -> np.ndarray:
    """Two soft notes that mark when listening starts (rising) and ends (falling).

    Quiet, round and short, so they signal without startling; peak-normalized, to be
    leveled by the caller. Treat as read-only.
    """
    note_s = LISTEN_CUE_S / 2
    notes_hz = (523.25, 659.25) if opening else (659.25, 523.25)  # C5 and E5
    t = np.arange(round(note_s * 1.6 * sample_rate_hz)) / sample_rate_hz
    # A soft attack and an exponential fade, closed to zero at the end.
    envelope = (1 - np.exp(-t / 0.012)) * np.exp(-t / 0.12) * np.clip((t[-1] - t) / 0.05, 0, 1)
    out = np.zeros(round(LISTEN_CUE_S * 1.6 * sample_rate_hz) + t.size)
    for index, freq_hz in enumerate(notes_hz):
        start = round(index * note_s * sample_rate_hz)
        tone = np.sin(2 * math.pi * freq_hz * t) + 0.2 * np.sin(4 * math.pi * freq_hz * t)
        out[start : start + t.size] += tone * envelope
    out = out[: np.flatnonzero(out)[-1] + 1] if out.any() else out
    cue = (out / np.max(np.abs(out))).astype(np.float32)
    cue.setflags(write=False)
    return cue
