"""Mastering in one streaming pass: gain to the loudness target, then a true-peak limiter.

One pass is possible because every speech clip is leveled when it is prepared, so the gain
that brings the session to TARGET_LUFS is known before mixing starts. The limiter looks
ahead LOOKAHEAD_S and estimates inter-sample peaks by 4x oversampling (as BS.1770 does for
true peak), so its output stays under the ceiling on a listener's converter, not only on
the sample grid. Its gain moves in smooth ramps, which keeps it free of clicks.
"""

from __future__ import annotations

import numpy as np

from .dsp import running_min_coarse, windowed_sinc

LOOKAHEAD_S = 0.008
HOLD_S = 0.05
"""How long the limiter holds its gain after a peak before letting go."""
_OVERSAMPLING = 4
_TAPS_PER_PHASE = 12
_INTERPOLATOR = windowed_sinc(_OVERSAMPLING * _TAPS_PER_PHASE, 1 / _OVERSAMPLING) * _OVERSAMPLING
_CONTEXT = 24
"""Input frames either side that the oversampling filter needs to see."""
_SPREAD = 3
"""Frames either side of a loud sample whose inter-sample peaks are examined."""
_STEP = 8
"""Chunk of the limiter's coarse minimum filter (see dsp.running_min_coarse)."""
_SAFE_SAMPLE_PEAK = 10 ** (-4 / 20)
"""Between samples a peak rises at most a few dB over the samples around it; frames further
than this under the ceiling cannot reach it, so only frames near louder ones are examined."""


def _polyphase() -> tuple[np.ndarray, np.ndarray]:
    """The interpolator split into one short filter per output phase: (offsets, taps[phase])."""
    delay = (_INTERPOLATOR.size - 1) // 2
    offsets = np.arange(-_TAPS_PER_PHASE // 2, _TAPS_PER_PHASE // 2 + 1)
    taps = np.zeros((_OVERSAMPLING, offsets.size))
    for phase in range(_OVERSAMPLING):
        for column, k in enumerate(offsets):
            tap = _OVERSAMPLING * k + phase + delay
            if 0 <= tap < _INTERPOLATOR.size:
                taps[phase, column] = _INTERPOLATOR[tap]
    return offsets, taps


_OFFSETS, _PHASE_TAPS = _polyphase()


def true_peak(samples: np.ndarray, frames: np.ndarray | None = None) -> np.ndarray:
    """Peak of the 4x oversampled signal at each of ``frames`` (default: every frame).

    Each frame covers itself and the three points interpolated after it. Computing only the
    frames asked for keeps this cheap: a limiter asks only about frames near loud samples.
    """
    signal = np.asarray(samples, dtype=np.float64)
    where = np.arange(signal.size) if frames is None else frames
    neighbours = np.clip(where[:, None] - _OFFSETS[None, :], 0, signal.size - 1)
    # einsum rather than a matrix product: ``@`` wakes OpenBLAS's thread pool, whose
    # threads then busy-wait on the other core that ffmpeg or another worker needs.
    interpolated = np.einsum("nk,pk->np", signal[neighbours], _PHASE_TAPS)
    return np.maximum(np.abs(interpolated).max(axis=1), np.abs(signal[where]))


def _widened(marked: np.ndarray, reach: int) -> np.ndarray:
    """Indices within ``reach`` of a True in ``marked`` (a dilation, in whole-array steps)."""
    marks = np.flatnonzero(marked)
    if marks.size <= 64:  # the usual block: a few loud frames, cheaper one by one
        around = marks[:, None] + np.arange(-reach, reach + 1)[None, :]
        return np.unique(np.clip(around, 0, marked.size - 1))
    counts = np.concatenate([np.zeros(reach + 1, np.int64), np.cumsum(marked)])
    counts = np.concatenate([counts, np.full(reach, counts[-1])])
    # marked[i - reach : i + reach + 1] holds a True where the running count rises over it.
    return np.flatnonzero(counts[2 * reach + 1 :] > counts[: marked.size])


class Limiter:
    """Streaming look-ahead limiter; output lags input by ``latency_frames``.

    Feed blocks with :meth:`process` and finish with :meth:`flush`; the frames that come out,
    in total, are exactly as many as went in.
    """

    def __init__(
        self,
        sample_rate_hz: int,
        ceiling_dbtp: float,
        lookahead_s: float = LOOKAHEAD_S,
        hold_s: float = HOLD_S,
    ) -> None:
        self.ceiling = 10 ** (ceiling_dbtp / 20)
        self.lookahead = max(1, round(lookahead_s * sample_rate_hz))
        self.hold = round(hold_s * sample_rate_hz)
        # Frames of history each output frame needs: the moving average, the hold of the
        # minimum filter and the oversampling context.
        self._history = self.lookahead + self.hold + _CONTEXT
        self._future = self.lookahead + _CONTEXT
        self.latency_frames = self._future
        self._buffer = np.zeros(self._history, dtype=np.float64)
        self._taken = 0
        self._given = 0
        self.peak_gain_reduction_db = 0.0

    def process(self, block: np.ndarray) -> np.ndarray:
        self._taken += block.size
        self._buffer = np.concatenate([self._buffer, np.asarray(block, dtype=np.float64)])
        ready = self._buffer.size - self._history - self._future
        if ready <= 0:
            return np.zeros(0, dtype=np.float32)
        out = self._limit(self._buffer, ready)
        self._buffer = self._buffer[ready:]
        self._given += out.size
        return out

    def flush(self) -> np.ndarray:
        tail = self.process(np.zeros(self._future))
        self._taken -= self._future
        keep = self._taken - (self._given - tail.size)
        self._given = self._taken
        return tail[:keep]

    def _limit(self, signal: np.ndarray, ready: int) -> np.ndarray:
        """Limit frames signal[history : history + ready] using the context around them.

        Sparse: the gain differs from 1 only within a hold and a look-ahead of a frame over
        the ceiling, so it is computed only on the stretches of whole _STEP-frame chunks
        around such frames, joined end to end. Each stretch keeps a margin of untouched
        chunks at either side, wider than the filters reach, so the join changes nothing:
        the result equals the gain computed over the whole buffer (within rounding, ~1e-12).
        """
        start = self._history
        out = signal[start : start + ready].astype(np.float32)
        loud = np.abs(signal) > self.ceiling * _SAFE_SAMPLE_PEAK
        if not loud.any():
            return out
        near = _widened(loud, _SPREAD)
        peaks = true_peak(signal, near)
        is_over = peaks > self.ceiling
        if not is_over.any():
            return out
        over, wanted_over = near[is_over], self.ceiling / peaks[is_over]
        a, h = self.lookahead, self.hold
        # Chunks within `margin` chunks of one holding an over frame, as whole chunks.
        margin = -(-(a + h) // _STEP) + 4
        has_over = np.zeros(-(-signal.size // _STEP), dtype=bool)
        has_over[over // _STEP] = True
        chunks = _widened(has_over, margin)
        frames = (chunks[:, None] * _STEP + np.arange(_STEP)[None, :]).ravel()
        frames = frames[frames < signal.size]
        wanted = np.ones(frames.size)
        wanted[np.searchsorted(frames, over)] = wanted_over
        # Lowest gain needed from `hold` frames back to `lookahead` frames ahead...
        held = running_min_coarse(wanted, before=h, after=a, step=_STEP)
        # ...then averaged over the last `lookahead` frames: ramps that reach the needed gain
        # by the time the peak arrives. `a` leading ones stand for the untouched frames.
        csum = np.concatenate([np.zeros(1), np.cumsum(np.concatenate([np.ones(a), held]))])
        inside = np.flatnonzero((frames >= start) & (frames < start + ready))
        gain = (csum[inside + a + 1] - csum[inside + 1]) / a
        if gain.size:
            self.peak_gain_reduction_db = max(
                self.peak_gain_reduction_db, float(-20 * np.log10(gain.min()))
            )
            at = frames[inside]
            out[at - start] = (signal[at] * gain).astype(np.float32)
        return out


class Master:
    """Gain, then limiter: the last stage before a file or a speaker."""

    def __init__(self, sample_rate_hz: int, gain_db: float, ceiling_dbtp: float) -> None:
        self.gain = np.float32(10 ** (gain_db / 20))
        self.limiter = Limiter(sample_rate_hz, ceiling_dbtp)

    def process(self, block: np.ndarray) -> np.ndarray:
        return self.limiter.process(block * self.gain)

    def flush(self) -> np.ndarray:
        return self.limiter.flush()
