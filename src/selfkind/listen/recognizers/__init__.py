"""Speech recognizers: audio chunks in, words with times out.

Each engine sits in a module of its own (``whisper.py``, ``vosk.py``, ``pocketsphinx.py``)
behind the small :class:`Recognizer` protocol; :func:`choose` decides which one the options
mean, :func:`open_recognizer` opens it, and ``worker.py`` runs one in a separate process
beside live playback. Vosk and PocketSphinx give lowercase words without punctuation;
:func:`readable` makes sentences of them at the speaker's pauses. Whisper writes its own.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from ...errors import SetupError

RATE_HZ = 16000
"""Every engine here expects 16 kHz mono 16-bit audio."""


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


ENGINES = ("auto", "whisper", "vosk", "pocketsphinx")
WHISPER_HINT = (
    "For better accuracy, install Whisper (offline, its model in the wheel):"
    " pip install 'selfkind[whisper]'"
)


@dataclass(frozen=True)
class Choice:
    """Which engine and model the options mean, found before any work is done."""

    engine: str
    """"whisper", "vosk" or "pocketsphinx"."""
    model: Path | None
    """The model folder (None: PocketSphinx's built-in English model)."""
    hint: str = ""
    """One line to say once: how to get better accuracy (empty when nothing better is
    within reach, or the engine was asked for by name)."""
    found: bool = field(default=False, compare=False)
    """The model was found installed, not asked for: if it cannot be loaded, PocketSphinx
    stands in (with one line) rather than leaving the person without a transcript."""


def choose(engine: str = "auto", model: str | None = None) -> Choice:
    """The recognizer the options mean, checked now (a wrong --model is said at once, not
    after someone has spoken).

    A model folder, given with --model or $SELFKIND_VOSK_MODEL, decides the engine by its
    files. Otherwise "auto" takes Whisper when faster-whisper and a model are installed
    (the best on real people's speech), then Vosk with an installed model, then
    PocketSphinx, whose wheel carries an English model.
    """
    from .. import models

    if engine not in ENGINES:
        raise SetupError(f"no speech recognizer called '{engine}' ({', '.join(ENGINES)})")
    given = model or (os.environ.get(models.VOSK_MODEL_ENV) if engine in ("auto", "vosk") else None)
    if given:
        if engine == "pocketsphinx":
            raise SetupError("PocketSphinx uses the English model in its wheel; --model is for"
                             " Whisper and Vosk models")  # fmt: skip
        path = Path(given).expanduser()
        kind = models.model_kind(path, engine if engine != "auto" else None)
        return Choice(kind, path)
    if engine in ("auto", "whisper"):
        found = models.find_whisper_model()
        if found is not None:
            return Choice("whisper", found, found=engine == "auto")
        if engine == "whisper":
            raise SetupError("Whisper is not installed: pip install 'selfkind[whisper]'")
    hint = WHISPER_HINT if engine == "auto" else ""
    if engine in ("auto", "vosk"):
        found = models.find_vosk_model()
        if found is not None:
            return Choice("vosk", found, hint, found=engine == "auto")
        if engine == "vosk":
            raise SetupError(
                "no Vosk model is installed; add one with: selfkind models install MODEL.zip"
            )
    return Choice("pocketsphinx", None, hint)


def open_chosen(choice: Choice, on_fallback: Callable[[str], None] | None = None) -> Recognizer:
    """A recognizer for one utterance, of the engine chosen (models load once a process).

    An installed model that was not asked for and cannot be loaded (damaged after it was
    installed) gives way to PocketSphinx; ``on_fallback`` hears why, in one line.
    """
    try:
        return _open(choice)
    except SetupError as err:
        if not choice.found:
            raise
        from .pocketsphinx import SphinxRecognizer

        if on_fallback is not None:
            on_fallback(f"{err}; transcribing with PocketSphinx instead")
        return SphinxRecognizer()


def _open(choice: Choice) -> Recognizer:
    if choice.engine == "whisper":
        from .whisper import WhisperRecognizer

        return WhisperRecognizer(choice.model)
    if choice.engine == "vosk":
        from .vosk import VoskRecognizer

        assert choice.model is not None
        return VoskRecognizer(choice.model)
    from .pocketsphinx import SphinxRecognizer

    return SphinxRecognizer()


def open_recognizer(
    engine: str = "auto", model: str | None = None, on_fallback: Callable[[str], None] | None = None
) -> Recognizer:
    """Whisper if installed, else Vosk with a model if one is installed, else PocketSphinx
    (or the engine, or the model folder, asked for); see :func:`open_chosen`."""
    return open_chosen(choose(engine, model), on_fallback)
