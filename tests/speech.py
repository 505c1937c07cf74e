"""Real people's speech for accuracy tests, and word error rate measured fairly.

Truth and hypothesis go through the same normalization before they are compared: lower
case, punctuation and hyphens dropped, and numbers written as words on both sides
("10" -> "ten"), so Whisper writing "10 meters" is not counted wrong against "ten meters".
Shared by the tests and scripts/bench.py.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import jiwer
import numpy as np

from selfkind.normalize import number_words

FIXTURES = Path(__file__).resolve().parent.parent / "audio_fixtures"
HUMAN_NAMES = (
    "jfk.flac", "goforward.wav", "cards-001.wav", "cards-002.wav", "cards-003.wav",
    "cards-004.wav", "cards-005.wav",
)  # fmt: skip
"""Recordings of real people (see audio_fixtures/README.md), with NAME.txt true text."""


@dataclass(frozen=True)
class Recording:
    path: Path
    truth: str

    @property
    def name(self) -> str:
        return self.path.name


def human_recordings() -> list[Recording]:
    return [
        Recording(FIXTURES / name, (FIXTURES / name).with_suffix(".txt").read_text().strip())
        for name in HUMAN_NAMES
    ]


def _spell_number(match: re.Match[str]) -> str:
    return number_words(int(match.group().replace(",", ""))).replace("-", " ")


def normalize(text: str) -> str:
    """Text -> plain lower-case words, numbers spelled out, for comparison only."""
    text = text.lower().replace("-", " ")
    text = re.sub(r"\d[\d,]*", _spell_number, text)
    text = re.sub(r"[^a-z' ]+", " ", text)
    return " ".join(text.split())


def word_errors(truth: str, hypothesis: str) -> tuple[int, int]:
    """(substitutions + deletions + insertions, words in the truth), after normalization."""
    reference, heard = normalize(truth), normalize(hypothesis)
    n_words = len(reference.split())
    if not heard:
        return n_words, n_words
    out = jiwer.process_words(reference, heard)
    return out.substitutions + out.deletions + out.insertions, n_words


def word_error_rate(pairs: list[tuple[str, str]]) -> float:
    """Pooled over (truth, hypothesis) pairs: all errors over all true words."""
    errors = words = 0
    for truth, hypothesis in pairs:
        e, n = word_errors(truth, hypothesis)
        errors, words = errors + e, words + n
    return errors / max(words, 1)


def decode_16k(path: Path) -> np.ndarray:
    """Any audio file -> 16 kHz mono float32 (the recognizers' rate), through ffmpeg."""
    import subprocess

    raw = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-ac", "1", "-ar", "16000", "-f", "f32le", "-"],
        capture_output=True,
        check=True,
    ).stdout
    return np.frombuffer(raw, dtype="<f4").copy()


REFLECTION_ORDER = (
    "jfk.flac", "goforward.wav", "cards-005.wav", "cards-002.wav", "jfk.flac", "cards-001.wav",
    "cards-003.wav", "jfk.flac", "cards-004.wav", "goforward.wav", "jfk.flac",
)  # fmt: skip
REFLECTION_PAUSES_S = (1.5, 0.5, 2.0, 0.3, 1.0, 1.5, 0.2, 0.7, 1.5, 0.5)
"""Silence put between the recordings (each has about half a second of its own at each
end, so the pauses in speech run from about 1 to 3 s less the 3 s that ends listening)."""


def human_reflection() -> tuple[np.ndarray, str]:
    """About a minute of real people's speech with thoughtful pauses: the recordings above,
    joined (16 kHz float32 samples, true text). For timing a long reflection."""
    by_name = {r.name: r for r in human_recordings()}
    pieces: list[np.ndarray] = []
    for index, name in enumerate(REFLECTION_ORDER):
        pieces.append(decode_16k(by_name[name].path))
        if index < len(REFLECTION_PAUSES_S):
            pieces.append(np.zeros(round(REFLECTION_PAUSES_S[index] * 16000), np.float32))
    truth = " ".join(by_name[name].truth for name in REFLECTION_ORDER)
    return np.concatenate(pieces), truth
