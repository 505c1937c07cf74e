"""Small signal-processing pieces in plain numpy.

scipy.signal takes most of a second to import, which a user pays on every command and a
live session pays before its first word. These few pieces are all the program needs.
"""

from __future__ import annotations

import numpy as np


def running_min(values: np.ndarray, before: int, after: int) -> np.ndarray:
    """out[n] = min(values[n - before : n + after + 1]), edges repeating the end values.

    The van Herk / Gil-Werman method: prefix and suffix minima over fixed-size chunks give
    every window's minimum in O(n), whatever the window size.
    """
    width = before + after + 1
    n = values.size
    padded = np.concatenate([np.full(before, values[0]), values, np.full(after, values[-1])])
    chunks = -(-padded.size // width)
    filled = np.concatenate([padded, np.full(chunks * width - padded.size, np.inf)])
    grid = filled.reshape(chunks, width)
    prefix = np.minimum.accumulate(grid, axis=1).ravel()
    suffix = np.minimum.accumulate(grid[:, ::-1], axis=1)[:, ::-1].ravel()
    starts = np.arange(n)
    return np.minimum(suffix[starts], prefix[starts + width - 1])


def biquad_impulse_response(stages: list[tuple[np.ndarray, np.ndarray]], n_taps: int) -> np.ndarray:
    """Impulse response of a cascade of biquads (b, a), run once by direct recursion."""
    signal = np.zeros(n_taps)
    signal[0] = 1.0
    for b, a in stages:
        out = np.zeros(n_taps)
        x1 = x2 = y1 = y2 = 0.0
        for i, x0 in enumerate(signal.tolist()):
            y0 = b[0] * x0 + b[1] * x1 + b[2] * x2 - a[1] * y1 - a[2] * y2
            out[i] = y0
            x2, x1, y2, y1 = x1, x0, y1, y0
        signal = out
    return signal


class StreamingFIR:
    """Convolve a stream, block by block, with a fixed FIR filter (FFT overlap-save)."""

    def __init__(self, taps: np.ndarray) -> None:
        self.taps = np.asarray(taps, dtype=np.float64)
        self._history = np.zeros(self.taps.size - 1)

    def process(self, block: np.ndarray) -> np.ndarray:
        block = np.asarray(block, dtype=np.float64)
        if block.size == 0:
            return block
        joined = np.concatenate([self._history, block])
        size = 1 << int(np.ceil(np.log2(joined.size + self.taps.size)))
        full = np.fft.irfft(np.fft.rfft(joined, size) * np.fft.rfft(self.taps, size), size)
        self._history = joined[joined.size - (self.taps.size - 1) :]
        return full[self.taps.size - 1 : joined.size]


def windowed_sinc(n_taps: int, cutoff: float, beta: float = 8.0) -> np.ndarray:
    """Linear-phase low-pass FIR; ``cutoff`` is a fraction of the Nyquist frequency."""
    centre = (n_taps - 1) / 2
    n = np.arange(n_taps) - centre
    taps = cutoff * np.sinc(cutoff * n) * np.kaiser(n_taps, beta)
    return taps / taps.sum()
