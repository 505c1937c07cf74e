"""Loudness as ITU-R BS.1770-4 defines it, measured while audio streams past.

The K-weighting filters are two biquads designed at any sample rate by the bilinear
transform of the standard's analogue prototypes (a high shelf near 1.7 kHz and a high-pass
near 38 Hz); at 48 kHz they reproduce the coefficients printed in BS.1770. They are applied
as one FIR, their impulse response, by FFT convolution. Energy is kept per
100 ms step, so a meter holds 36 000 floats for an hour: memory does not depend on the audio.
"""

from __future__ import annotations

import math

import numpy as np

from .dsp import StreamingFIR, biquad_impulse_response

BLOCK_S = 0.4
"""Gating block length."""
STEP_S = 0.1
"""Blocks overlap by 75 %, so a new one starts every 100 ms."""
ABSOLUTE_GATE_LUFS = -70.0
RELATIVE_GATE_LU = -10.0
SILENCE_LUFS = -120.0
"""Reported for audio with no block above the absolute gate."""

# BS.1770 stage 1 (head shelf) and stage 2 (RLB high-pass), as analogue prototypes.
_SHELF_HZ, _SHELF_GAIN_DB, _SHELF_Q = 1681.974450955533, 3.999843853973347, 0.7071752369554196
_HIGHPASS_HZ, _HIGHPASS_Q = 38.13547087602444, 0.5003270373238773


def _biquad_shelf(rate_hz: int) -> tuple[np.ndarray, np.ndarray]:
    k = math.tan(math.pi * _SHELF_HZ / rate_hz)
    high = 10 ** (_SHELF_GAIN_DB / 20)
    band = high**0.4996667741545416
    norm = 1 + k / _SHELF_Q + k * k
    b = [
        (high + band * k / _SHELF_Q + k * k),
        2 * (k * k - high),
        (high - band * k / _SHELF_Q + k * k),
    ]
    a = [norm, 2 * (k * k - 1), 1 - k / _SHELF_Q + k * k]
    return np.array(b) / norm, np.array(a) / norm


def _biquad_highpass(rate_hz: int) -> tuple[np.ndarray, np.ndarray]:
    k = math.tan(math.pi * _HIGHPASS_HZ / rate_hz)
    norm = 1 + k / _HIGHPASS_Q + k * k
    a = [norm, 2 * (k * k - 1), 1 - k / _HIGHPASS_Q + k * k]
    return np.array([1.0, -2.0, 1.0]), np.array(a) / norm


_TAPS_CACHE: dict[int, np.ndarray] = {}


def k_weighting_taps(rate_hz: int) -> np.ndarray:
    """The two K-weighting biquads as one FIR: their impulse response over 200 ms, by when it
    has decayed by more than 100 dB, so the FIR measures what the recursive filters would."""
    if rate_hz not in _TAPS_CACHE:
        stages = [_biquad_shelf(rate_hz), _biquad_highpass(rate_hz)]
        _TAPS_CACHE[rate_hz] = biquad_impulse_response(stages, round(0.2 * rate_hz))
    return _TAPS_CACHE[rate_hz]


class LoudnessMeter:
    """Feed mono blocks of any size with :meth:`add`; read :attr:`integrated_lufs` at any time."""

    def __init__(self, sample_rate_hz: int) -> None:
        self.sample_rate_hz = sample_rate_hz
        self._weighting = StreamingFIR(k_weighting_taps(sample_rate_hz))
        self._step_frames = round(STEP_S * sample_rate_hz)
        self._partial = np.zeros(0)
        self._step_energy: list[float] = []
        """Sum of squared K-weighted samples in each complete 100 ms step."""

    def add(self, samples: np.ndarray) -> None:
        weighted = self._weighting.process(samples)
        pending = np.concatenate([self._partial, weighted])
        n_steps = pending.size // self._step_frames
        if n_steps:
            used = pending[: n_steps * self._step_frames].reshape(n_steps, self._step_frames)
            self._step_energy.extend(np.einsum("ij,ij->i", used, used).tolist())
        self._partial = pending[n_steps * self._step_frames :]

    def block_powers(self) -> np.ndarray:
        """Mean square of every 400 ms gating block so far."""
        steps = np.asarray(self._step_energy)
        per_block = round(BLOCK_S / STEP_S)
        if steps.size < per_block:
            return np.zeros(0)
        sums = np.convolve(steps, np.ones(per_block), mode="valid")
        return sums / (per_block * self._step_frames)

    @property
    def integrated_lufs(self) -> float:
        powers = self.block_powers()
        return gated_loudness(powers)


def _lufs(power: np.ndarray | float) -> np.ndarray | float:
    return -0.691 + 10 * np.log10(np.maximum(power, 1e-30))


def gated_loudness(block_powers: np.ndarray) -> float:
    """Integrated loudness from gating-block mean squares (absolute, then relative gate)."""
    loud = block_powers[_lufs(block_powers) > ABSOLUTE_GATE_LUFS]
    if loud.size == 0:
        return SILENCE_LUFS
    threshold = _lufs(loud.mean()) + RELATIVE_GATE_LU
    kept = loud[_lufs(loud) > threshold]
    return float(_lufs(kept.mean()))


def integrated_lufs(samples: np.ndarray, sample_rate_hz: int) -> float:
    """Loudness of a whole clip. A clip shorter than one gating block is measured as if it
    were that block's only content, so short words are not mistaken for quiet ones."""
    clip = np.asarray(samples, dtype=np.float64)
    block_frames = round(BLOCK_S * sample_rate_hz)
    if clip.size >= block_frames:
        meter = LoudnessMeter(sample_rate_hz)
        meter.add(clip)
        return meter.integrated_lufs
    if clip.size == 0:
        return SILENCE_LUFS
    meter = LoudnessMeter(sample_rate_hz)
    meter.add(np.concatenate([clip, np.zeros(block_frames - clip.size)]))
    powers = meter.block_powers() * block_frames / clip.size
    return gated_loudness(powers)
