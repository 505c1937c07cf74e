"""What a listener hears, measured on the audio: voiced time and short-term loudness.

Used by the tests and by ``scripts/measure_listening.py``, never by rendering: these are
the rulers the voice's pace and the bell's softness are checked against.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

FRAME_S = 0.01
VOICED_RANGE_DB = 35.0
"""A 10 ms frame within this much of a clip's loudest frame is voiced."""
BRIDGE_S = 0.25
"""Quiet shorter than this (a stop's closure, the join of two words) is part of speech; the
rests at commas and the breaths between sentences are longer."""


def voiced_s(clip: np.ndarray, sample_rate_hz: int) -> float:
    """Seconds of voiced speech in a clip of one voice."""
    n = round(FRAME_S * sample_rate_hz)
    frames = np.asarray(clip, dtype=np.float64)[: clip.size // n * n].reshape(-1, n)
    if frames.size == 0:
        return 0.0
    level_db = 10 * np.log10(np.mean(frames**2, axis=1) + 1e-12)
    voiced = level_db > level_db.max() - VOICED_RANGE_DB
    on = np.flatnonzero(voiced)
    bridge = round(BRIDGE_S / FRAME_S)
    for i in np.flatnonzero(np.diff(on) > 1):
        if on[i + 1] - on[i] - 1 < bridge:
            voiced[on[i] : on[i + 1]] = True
    return float(voiced.sum() * FRAME_S)


def quiet_spans_s(
    clip: np.ndarray, sample_rate_hz: int, min_s: float, below_db: float = -50.0
) -> list[tuple[float, float]]:
    """(start_s, end_s) of every stretch at least ``min_s`` long whose 10 ms frames all sit
    under ``below_db`` dBFS: the silences a listener hears as pauses."""
    n = round(FRAME_S * sample_rate_hz)
    frames = np.asarray(clip, dtype=np.float64)[: clip.size // n * n].reshape(-1, n)
    quiet = 10 * np.log10(np.mean(frames**2, axis=1) + 1e-12) < below_db
    spans = []
    start = None
    for i, is_quiet in enumerate([*quiet, False]):
        if is_quiet and start is None:
            start = i
        elif not is_quiet and start is not None:
            if (i - start) * FRAME_S >= min_s:
                spans.append((start * FRAME_S, i * FRAME_S))
            start = None
    return spans


@dataclass(frozen=True)
class LoudnessTrace:
    """ffmpeg's EBU R128 meter over a file, every 100 ms."""

    times_s: np.ndarray
    momentary_lufs: np.ndarray
    short_term_lufs: np.ndarray
    """Loudness of the 3 s before each time."""
    integrated_lufs: float

    def loudest_short_term(self, spans_s: list[tuple[float, float]]) -> float:
        """The highest short-term loudness whose 3 s window ends inside one of the spans."""
        inside = np.zeros(self.times_s.size, dtype=bool)
        for start_s, end_s in spans_s:
            inside |= (self.times_s >= start_s) & (self.times_s <= end_s)
        return float(self.short_term_lufs[inside].max()) if inside.any() else -np.inf


_FRAME_RE = re.compile(r"t:\s*([\d.]+)\s+TARGET:.*?M:\s*(-?[\d.]+|-inf)\s+S:\s*(-?[\d.]+|-inf)")
_INTEGRATED_RE = re.compile(r"I:\s+(-?[\d.]+) LUFS")


def loudness_trace(path: Path) -> LoudnessTrace:
    """Decode ``path`` with ffmpeg and read its EBU R128 meter (an independent ruler)."""
    result = subprocess.run(
        [
            "ffmpeg",
            "-nostdin",
            "-hide_banner",
            "-i",
            str(path),
            "-af",
            "ebur128",
            "-f",
            "null",
            "-",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    rows = [(float(t), float(m), float(s)) for t, m, s in _FRAME_RE.findall(result.stderr)]
    integrated = _INTEGRATED_RE.findall(result.stderr)
    table = np.array(rows) if rows else np.zeros((0, 3))
    return LoudnessTrace(
        table[:, 0], table[:, 1], table[:, 2], float(integrated[-1]) if integrated else -np.inf
    )
