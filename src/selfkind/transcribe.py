"""Speech -> text, offline: Vosk when a model is installed, PocketSphinx (whose wheel ships
an English model) otherwise. Audio is fed in chunks as it arrives, so a transcript is ready
moments after the speaker stops. Engines give lowercase words without punctuation; the
text is made readable here: sentence case, "I", and a full stop at the speaker's pauses.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

from . import paths
from .errors import SelfkindError, SetupError

RATE_HZ = 16000
"""Both engines' English models expect 16 kHz mono 16-bit audio."""
SENTENCE_PAUSE_S = 0.7
"""A pause this long between words ends a sentence."""
VOSK_MODEL_ENV = "SELFKIND_VOSK_MODEL"
_VOSK_REQUIRED = ("am/final.mdl", "conf/model.conf")


class TranscribeError(SelfkindError):
    """One audio file could not be read."""


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


def check_vosk_model(path: Path) -> None:
    """Raise SetupError naming what a Vosk model folder lacks."""
    if not path.is_dir():
        raise SetupError(f"the Vosk model folder {path} does not exist")
    missing = [part for part in _VOSK_REQUIRED if not (path / part).is_file()]
    if missing:
        raise SetupError(
            f"{path} is not a complete Vosk model: missing {', '.join(missing)}"
            " (unpack the model's zip, or use: selfkind models install ZIP)"
        )


def models_dir() -> Path:
    return paths.user_data_dir() / "models"


def find_vosk_model(explicit: str | None = None) -> Path | None:
    """--model, then $SELFKIND_VOSK_MODEL, then the first model in the user data dir."""
    for given in (explicit, os.environ.get(VOSK_MODEL_ENV)):
        if given:
            path = Path(given).expanduser()
            check_vosk_model(path)
            return path
    folder = models_dir()
    if folder.is_dir():
        for candidate in sorted(folder.iterdir()):
            if all((candidate / part).is_file() for part in _VOSK_REQUIRED):
                return candidate
    return None


_vosk_models: dict[str, object] = {}


class VoskRecognizer:
    name = "vosk"

    def __init__(self, model_path: Path) -> None:
        try:
            import vosk
        except ImportError:
            raise SetupError("vosk is not installed: pip install vosk") from None
        vosk.SetLogLevel(-1)
        key = str(model_path)
        if key not in _vosk_models:
            try:
                _vosk_models[key] = vosk.Model(key)
            except Exception:  # vosk raises a bare Exception ("Failed to create a model")
                raise SetupError(
                    f"the Vosk model in {model_path} could not be loaded (damaged or not a"
                    " Vosk model); install it again with: selfkind models install ZIP"
                ) from None
        self.model = model_path.name
        self._recognizer = vosk.KaldiRecognizer(_vosk_models[key], RATE_HZ)
        self._recognizer.SetWords(True)
        self._words: list[Word] = []

    def _take(self, result: str) -> None:
        for item in json.loads(result).get("result", []):
            self._words.append(
                Word(item["word"], float(item["start"]), float(item["end"]), float(item["conf"]))
            )

    def accept(self, pcm: bytes) -> None:
        if self._recognizer.AcceptWaveform(pcm):
            self._take(self._recognizer.Result())

    def partial(self) -> str:
        heard = " ".join(w.word for w in self._words)
        now = json.loads(self._recognizer.PartialResult()).get("partial", "")
        return f"{heard} {now}".strip()

    def finish(self) -> Transcript:
        self._take(self._recognizer.FinalResult())
        return Transcript(readable(self._words), self._words, self.name, self.model)


_idle_decoders: list[Any] = []
"""PocketSphinx decoders between utterances (list.pop and append are atomic)."""


class SphinxRecognizer:
    name = "pocketsphinx"
    model = "en-us"

    def __init__(self) -> None:
        try:
            from pocketsphinx import Decoder
        except ImportError:
            raise SetupError("pocketsphinx is not installed: pip install pocketsphinx") from None
        # Loading a decoder takes ~0.3 s (longer than decoding a short reflection), and a
        # decoder can run utterance after utterance: finished ones are kept for reuse.
        try:
            self._decoder = _idle_decoders.pop()
            # Start from the model's initial normalization, not the last speaker's: the same
            # audio must give the same words whatever was transcribed before it.
            self._decoder.reinit_feat()
        except IndexError:
            self._decoder = Decoder(samprate=RATE_HZ, loglevel="FATAL")
        self._decoder.start_utt()

    def accept(self, pcm: bytes) -> None:
        self._decoder.process_raw(pcm, False, False)

    def partial(self) -> str:
        hypothesis = self._decoder.hyp()
        return hypothesis.hypstr if hypothesis else ""

    def finish(self) -> Transcript:
        self._decoder.end_utt()
        frame_s = 0.01
        words = []
        for segment in self._decoder.seg():
            token = segment.word
            if token.startswith(("<", "[", "(")) or token == "</s>":
                continue  # silence, noise and sentence markers
            token = re.sub(r"\(\d+\)$", "", token)  # alternative pronunciations: word(2)
            confidence = min(1.0, 1.0001**segment.prob)  # log base 1.0001, as logmath uses
            words.append(
                Word(token, segment.start_frame * frame_s, segment.end_frame * frame_s, confidence)
            )
        _idle_decoders.append(self._decoder)
        return Transcript(readable(words), words, self.name, self.model)


def open_recognizer(engine: str = "auto", model: str | None = None) -> Recognizer:
    """Vosk with a model if one is installed (or asked for), else PocketSphinx."""
    if engine in ("auto", "vosk"):
        path = find_vosk_model(model)
        if path is not None:
            return VoskRecognizer(path)
        if engine == "vosk":
            raise SetupError(
                "no Vosk model is installed; add one with: selfkind models install MODEL.zip"
            )
    return SphinxRecognizer()


def transcribe_file(path: Path, recognizer: Recognizer, chunk_s: float = 0.25) -> Transcript:
    """Any file ffmpeg can read, resampled to 16 kHz mono and fed in chunks."""
    command = [
        "ffmpeg", "-nostdin", "-v", "error", "-i", str(path),
        "-vn", "-ac", "1", "-ar", str(RATE_HZ), "-f", "s16le", "pipe:1",
    ]  # fmt: skip
    try:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    except FileNotFoundError:
        raise SetupError("ffmpeg is missing; install it with: apt-get install ffmpeg") from None
    assert process.stdout is not None and process.stderr is not None
    chunk = int(chunk_s * RATE_HZ) * 2
    while data := process.stdout.read(chunk):
        recognizer.accept(data)
    reason = process.stderr.read().decode(errors="replace").strip().splitlines()
    if process.wait() != 0:
        raise TranscribeError(
            f"{path}: not readable as audio" + (f" ({reason[-1]})" if reason else "")
        )
    return recognizer.finish()


class RecognizerWorker:
    """Recognizers that run in a separate process, for use beside live playback.

    PocketSphinx holds Python's interpreter lock while it decodes (up to ~40 ms a block)
    and while it loads (~0.3 s); in the playing process that starves the audio callback
    and the sound stutters. Here the engine and its model live in a child process, loaded
    once per session; the player's process only passes bytes through a pipe.
    """

    def __init__(self, engine: str = "auto", model: str | None = None) -> None:
        import multiprocessing

        context = multiprocessing.get_context("spawn")  # never fork a process with audio threads
        self._conn, child = context.Pipe()
        self._process = context.Process(
            target=_serve, args=(child, engine, model), name="recognizer", daemon=True
        )
        self._process.start()
        child.close()
        self._lock = threading.Lock()

    def new(self) -> Recognizer:
        """A recognizer for one utterance (raises SetupError if the engine cannot run)."""
        with self._lock:
            self._conn.send(("begin", b""))
            kind, payload = self._conn.recv()
            while kind == "partial":  # left from an utterance that was never finished
                kind, payload = self._conn.recv()
        if kind == "error":
            raise SetupError(str(payload))
        name, model = payload
        return _RemoteRecognizer(self._conn, name, model)

    def close(self) -> None:
        with contextlib.suppress(OSError, EOFError):
            self._conn.send(("quit", b""))
        self._process.join(timeout=5)
        if self._process.is_alive():
            self._process.kill()
        self._conn.close()


class _RemoteRecognizer:
    def __init__(self, conn: Connection, name: str, model: str) -> None:
        self._conn = conn
        self.name = name
        self.model = model
        self._partial = ""

    def accept(self, pcm: bytes) -> None:
        self._conn.send(("audio", pcm))
        self.partial()  # take the replies as they come, so the pipe never fills

    def partial(self) -> str:
        while self._conn.poll():
            kind, payload = self._conn.recv()
            if kind == "partial":
                self._partial = str(payload)
        return self._partial

    def finish(self) -> Transcript:
        self._conn.send(("finish", b""))
        while True:
            kind, payload = self._conn.recv()
            if kind == "transcript":
                return payload
            if kind == "error":
                raise SetupError(str(payload))


def _serve(conn: Connection, engine: str, model: str | None) -> None:
    """The worker process: one recognizer at a time, driven by messages."""
    # Ctrl-C reaches the whole process group; the parent decides, and still needs the
    # transcript of what was being said.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with contextlib.suppress(SelfkindError):
        open_recognizer(engine, model)  # load the model now, not when someone speaks
    recognizer: Recognizer | None = None
    while True:
        try:
            kind, payload = conn.recv()
        except EOFError:
            return
        try:
            if kind == "begin":
                recognizer = open_recognizer(engine, model)
                conn.send(("ready", (recognizer.name, recognizer.model)))
            elif kind == "audio" and recognizer is not None:
                recognizer.accept(payload)
                conn.send(("partial", recognizer.partial()))
            elif kind == "finish" and recognizer is not None:
                conn.send(("transcript", recognizer.finish()))
                recognizer = None
            elif kind == "quit":
                return
        except SelfkindError as err:
            conn.send(("error", str(err)))
