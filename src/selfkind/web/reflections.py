"""A spoken reflection arriving from the browser: 16 kHz mono s16le chunks, posted as they
are recorded, go to a recording on disk at once (the same :class:`PartialRecording` the
terminal guide uses, so a crash loses nothing and the next selfkind recovers it) and to a
recognizer in a thread of its own; the page reads the words heard so far and whether the
speaker has finished. The entry is kept in the same journal as the terminal guide's."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..journal.store import Journal
from ..listen.listener import ListenResult, Transcribing, keep_heard
from ..listen.recognizers import RATE_HZ, Recognizer
from ..listen.recording import Context, PartialRecording
from ..listen.vad import END_SILENCE_S, open_detector

MAX_REFLECTION_S = 600.0
"""A reflection longer than this is ended (and kept): the browser may have been forgotten."""
MAX_CHUNK_BYTES = 10 * RATE_HZ * 2
"""One post carries at most 10 s of audio (the page sends every quarter second)."""
IDLE_S = 60.0
"""A reflection no audio arrives for this long is ended and kept (the tab was closed)."""


@dataclass
class BrowserReflection:
    """One reflection being spoken; fed by :meth:`accept`, ended by :meth:`end`."""

    journal_path: Path | None
    make_recognizer: Callable[[], Recognizer] | None
    context: Context
    end_silence_s: float = END_SILENCE_S
    id: str = field(default_factory=lambda: secrets.token_hex(8))
    partial: str = ""
    result: ListenResult | None = None
    error: str | None = None

    def __post_init__(self) -> None:
        with Journal(self.journal_path) as journal:
            audio_dir = journal.audio_dir
        self._recording = PartialRecording(audio_dir, self.context)
        self._activity = open_detector(self.end_silence_s)  # Silero if installed, as the guide's
        self._transcribing = (
            Transcribing(self.make_recognizer, self._on_partial) if self.make_recognizer else None
        )
        self._lock = threading.Lock()
        self._odd = b""
        self.last_audio_at = time.monotonic()
        self.finished_speaking = False

    def _on_partial(self, text: str) -> None:
        self.partial = text

    @property
    def heard_s(self) -> float:
        return self._recording.n_frames / RATE_HZ

    def accept(self, pcm: bytes) -> bool:
        """Take a chunk of 16 kHz mono s16le audio; True once the speaker has finished
        (spoke, then was quiet for ``end_silence_s``) or the time is up."""
        with self._lock:
            if self.result is not None:
                return True
            data = self._odd + pcm
            usable = len(data) // 2 * 2
            data, self._odd = data[:usable], data[usable:]
            if data:
                self._recording.write(data)
                if self._transcribing is not None:
                    self._transcribing.feed(data)
                block = np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0
                if self._activity.feed(block):
                    self.finished_speaking = True
            self.last_audio_at = time.monotonic()
            return self.finished_speaking or self.heard_s >= MAX_REFLECTION_S

    def end(self) -> ListenResult:
        """No more audio: keep the recording and its transcript (or discard room sound
        alone), once; later calls return the same result."""
        with self._lock:
            if self.result is not None:
                return self.result
            recording = self._recording
            try:
                recording.finish()
                transcript = self._transcribing.finish() if self._transcribing else None
                self.result = keep_heard(
                    self.journal_path, recording, self.context, transcript,
                    self._activity.heard_speech,
                )  # fmt: skip
                return self.result
            finally:
                recording.release()  # kept, discarded, or left on disk for recovery


class Reflections:
    """The reflections under way on this server, by id."""

    def __init__(self) -> None:
        self._open: dict[str, BrowserReflection] = {}
        self._lock = threading.Lock()

    def add(self, reflection: BrowserReflection) -> None:
        with self._lock:
            self._open[reflection.id] = reflection

    def get(self, reflection_id: str) -> BrowserReflection | None:
        with self._lock:
            return self._open.get(reflection_id)

    def end(self, reflection_id: str) -> ListenResult | None:
        reflection = self.get(reflection_id)
        if reflection is None:
            return None
        result = reflection.end()
        with self._lock:
            self._open.pop(reflection_id, None)
        return result

    def end_idle(self) -> None:
        """Keep the reflections whose page stopped sending (closed, or asleep)."""
        now = time.monotonic()
        with self._lock:
            idle = [r for r in self._open.values() if now - r.last_audio_at > IDLE_S]
        for reflection in idle:
            self.end(reflection.id)

    def end_all(self) -> None:
        for reflection_id in list(self._open):
            self.end(reflection_id)
