"""A recording growing on disk while someone speaks, so nothing said is lost if the program
dies: the audio goes to a WAV file as it arrives (flushed every block, synced to disk every
second), beside a small JSON note of what it answers, and is locked while recording.
:func:`selfkind.journal.keep.recover` turns leftovers into pending entries."""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import secrets
import struct
import time
from dataclasses import dataclass
from pathlib import Path

from .recognizers import RATE_HZ

SYNC_EVERY_S = 1.0


PARTIAL_SUFFIX = ".partial.wav"


HEADER_BYTES = 44


@dataclass(frozen=True)
class Context:
    """What a reflection answers, kept with it (and with a partial recording)."""

    prompt: str = ""
    practice: str = ""
    session_id: str = ""


def _wav_header(sample_rate_hz: int) -> bytes:
    """A 16-bit mono WAV header for a stream of unknown length (sizes at their maximum)."""
    return (
        b"RIFF" + struct.pack("<I", 0xFFFFFFFF) + b"WAVEfmt "
        + struct.pack("<IHHIIHH", 16, 1, 1, sample_rate_hz, sample_rate_hz * 2, 2, 16)
        + b"data" + struct.pack("<I", 0xFFFFFFFF)
    )  # fmt: skip


class PartialRecording:
    """A recording growing on disk (``NAME.partial.wav`` + ``NAME.partial.json``), locked
    against recovery by another process for as long as it is open."""

    def __init__(self, audio_dir: Path, context: Context) -> None:
        started = dt.datetime.now().astimezone()
        self.started_at = started.isoformat(timespec="seconds")
        self.stem = f"{started:%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"
        self.path = audio_dir / f"{self.stem}{PARTIAL_SUFFIX}"
        self.note = self.path.with_suffix(".json")
        old_umask = os.umask(0o077)
        try:
            self.note.write_text(
                json.dumps({"started_at": self.started_at, **context.__dict__}), "utf-8"
            )
            self._file = open(self.path, "wb")  # noqa: SIM115 - held open while recording
        finally:
            os.umask(old_umask)
        fcntl.flock(self._file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        self._file.write(_wav_header(RATE_HZ))
        self.n_frames = 0
        self._synced_at = time.monotonic()

    def write(self, pcm: bytes) -> None:
        self._file.write(pcm)
        self._file.flush()  # in the kernel now: a killed process loses nothing written
        self.n_frames += len(pcm) // 2
        if time.monotonic() - self._synced_at >= SYNC_EVERY_S:
            os.fsync(self._file.fileno())
            self._synced_at = time.monotonic()

    def close(self) -> None:
        if not self._file.closed:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()  # closing releases the lock


def pcm_of(partial: Path) -> bytes:
    """The samples of a partial WAV, whatever its header says (it was never finished)."""
    data = partial.read_bytes()[HEADER_BYTES:]
    return data[: len(data) // 2 * 2]
