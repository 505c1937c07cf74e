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


def windowed_sinc(n_taps: int, cutoff: float, beta: float = 8.0) -> np.ndarray:
    """Linear-phase low-pass FIR; ``cutoff`` is a fraction of the Nyquist frequency."""
    centre = (n_taps - 1) / 2
    n = np.arange(n_taps) - centre
    taps = cutoff * np.sinc(cutoff * n) * np.kaiser(n_taps, beta)
    return taps / taps.sum()


def running_min_coarse(values: np.ndarray, before: int, after: int, step: int = 8) -> np.ndarray:
    """Like :func:`running_min` but over ``step``-frame chunks: each window grows to whole
    chunks, so the result is never above the exact one (safe for a limiter's gain) and is
    found ``step`` times faster."""
    n = values.size
    chunks = -(-n // step)
    padded = np.concatenate([values, np.full(chunks * step - n, values[-1])])
    chunk_min = padded.reshape(chunks, step).min(axis=1)
    coarse = running_min(chunk_min, -(-before // step) + 1, -(-after // step) + 1)
    return np.repeat(coarse, step)[:n]


class Decimator:
    """Streaming low-pass and keep every ``factor``-th sample, for a microphone that runs
    faster than the recognizer's rate. Blocks of any size give the same output as one."""

    def __init__(self, factor: int, n_taps: int = 63) -> None:
        self.factor = factor
        self._taps = windowed_sinc(n_taps, 0.9 / factor).astype(np.float32)
        self._history = np.zeros(n_taps - 1, dtype=np.float32)
        self._phase = 0

    def process(self, block: np.ndarray) -> np.ndarray:
        if self.factor == 1:
            return block
        joined = np.concatenate([self._history, block.astype(np.float32)])
        filtered = np.convolve(joined, self._taps, mode="valid")
        out = filtered[self._phase :: self.factor]
        self._phase = (self._phase - filtered.size) % self.factor
        self._history = joined[filtered.size :]
        return out
