"""PocketSphinx behind the Recognizer protocol: its wheel carries an English model, so it
always works, if less accurately than the others."""

from __future__ import annotations

import re
from typing import Any

from ...errors import SetupError
from . import RATE_HZ, Transcript, Word, readable

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
