"""Speech recognizers: audio chunks in, words with times out.

Each engine sits in a module of its own (``vosk.py``, ``pocketsphinx.py``) behind the small
:class:`Recognizer` protocol; :func:`open_recognizer` picks one, and ``worker.py`` runs one
in a separate process beside live playback. Engines give lowercase words without
punctuation; :func:`readable` makes sentences of them at the speaker's pauses.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Protocol

from ...errors import SetupError

RATE_HZ = 16000
"""Both engines' English models expect 16 kHz mono 16-bit audio."""


SENTENCE_PAUSE_S = 0.7
"""A pause this long between words ends a sentence."""


@dataclass(frozen=True)
class Word:
    word: str
    start_s: float
    end_s: float
    confidence: float


@dataclass
class Transcript:
    text: str
    words: list[Word] = field(default_factory=list)
    engine: str = ""
    model: str = ""

    def to_dict(self) -> dict[str, object]:
        return {
            "text": self.text,
            "engine": self.engine,
            "model": self.model,
            "words": [w.__dict__ for w in self.words],
        }


class Recognizer(Protocol):
    name: str
    model: str

    def accept(self, pcm: bytes) -> None:
        """Feed 16 kHz mono s16le audio."""
        ...

    def partial(self) -> str:
        """What has been heard so far (may still change)."""
        ...

    def finish(self) -> Transcript: ...


def readable(words: list[Word]) -> str:
    """Words -> text: sentences split at pauses, capitalized, with "I" and full stops."""
    sentences: list[list[str]] = []
    previous_end = None
    for word in words:
        if previous_end is None or word.start_s - previous_end >= SENTENCE_PAUSE_S:
            sentences.append([])
        sentences[-1].append(word.word)
        previous_end = word.end_s
    out = []
    for sentence in sentences:
        text = " ".join(sentence)
        text = re.sub(r"\bi(?=\b|'(?:m|ve|ll|d)\b)", "I", text)
        out.append(text[:1].upper() + text[1:] + ".")
    return " ".join(out)


def check_options(engine: str, model: str | None) -> bool:
    """Check the recognizer options before any work (a wrong --model is said at once, not
    after someone has spoken). Returns whether PocketSphinx stands in for Vosk."""
    from ..models import find_vosk_model

    if engine == "pocketsphinx":
        return False
    found = find_vosk_model(model)  # raises SetupError for a --model that is not a model
    if engine == "vosk" and found is None:
        raise SetupError(
            "no Vosk model is installed; add one with: selfkind models install MODEL.zip"
        )
    return found is None


def open_recognizer(engine: str = "auto", model: str | None = None) -> Recognizer:
    """Vosk with a model if one is installed (or asked for), else PocketSphinx."""
    from ..models import find_vosk_model

    if engine in ("auto", "vosk"):
        path = find_vosk_model(model)
        if path is not None:
            from .vosk import VoskRecognizer

            return VoskRecognizer(path)
        if engine == "vosk":
            raise SetupError(
                "no Vosk model is installed; add one with: selfkind models install MODEL.zip"
            )
    from .pocketsphinx import SphinxRecognizer

    return SphinxRecognizer()
