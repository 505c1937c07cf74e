"""Vosk (Kaldi) behind the Recognizer protocol. Models are loaded from a folder, once per
process; selfkind never lets Vosk fetch a model by language name (that downloads)."""

from __future__ import annotations

import json
from pathlib import Path

from ...errors import SetupError
from . import RATE_HZ, Transcript, Word, readable

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
