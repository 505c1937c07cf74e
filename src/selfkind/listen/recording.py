"""A recording growing on disk while someone speaks, so nothing said is lost if the program
dies: the audio goes to a WAV file as it arrives (flushed every block, synced to disk every
second), beside a small JSON note of what it answers, and is locked (``flock``) by the process
that owns it from before it appears under its name until it is kept in the journal or
discarded. :func:`selfkind.journal.keep.recover` turns only unlocked leftovers (their owner
is gone: the kernel drops a dead process's locks) into pending entries."""

from __future__ import annotations

import datetime as dt
import errno
import fcntl
import json
import os
import secrets
import struct
import time
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from ..errors import CannotWrite
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
    against recovery by another process until :meth:`release`.

    The owner calls :meth:`finish` when the audio is complete, keeps or discards the file
    while still holding the lock, and only then releases it: a recording whose lock is free
    is one whose owner has died, and any selfkind may take it.
    """

    def __init__(self, audio_dir: Path, context: Context) -> None:
        started = dt.datetime.now().astimezone()
        self.started_at = started.isoformat(timespec="seconds")
        self.stem = f"{started:%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"
        self.path = audio_dir / f"{self.stem}{PARTIAL_SUFFIX}"
        self.note = self.path.with_suffix(".json")
        self._audio_bytes = 0
        # Born under a name recovery does not look at, locked, then renamed: no other
        # process can ever see it unlocked (and take it for a dead one's leftover).
        starting = self.path.with_name(self.path.name + ".new")
        file = None
        old_umask = os.umask(0o077)
        try:
            self.note.write_text(
                json.dumps({"started_at": self.started_at, **context.__dict__}), "utf-8"
            )
            # Unbuffered: each block goes straight to the kernel, and a write the disk has no
            # room for fails there and then, with nothing left in a buffer to fail again.
            file = open(starting, "wb", buffering=0)  # noqa: SIM115 - held until released
            fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
            _write_all(file, _wav_header(RATE_HZ))
            os.replace(starting, self.path)
        except OSError as err:
            if file is not None:
                file.close()
            self.note.unlink(missing_ok=True)
            starting.unlink(missing_ok=True)
            raise CannotWrite(
                f"a recording cannot be started in {audio_dir} ({err.strerror}){_advice(err)}"
            ) from None
        finally:
            os.umask(old_umask)
        self._file = file
        self._synced_at = time.monotonic()

    def write(self, pcm: bytes) -> None:
        """Append samples; they are in the kernel on return, so a killed process loses
        nothing written. A full disk ends the recording with CannotWrite; what was
        written before stays, for recovery."""
        try:
            self._audio_bytes += _write_all(self._file, pcm)
            if time.monotonic() - self._synced_at >= SYNC_EVERY_S:
                os.fsync(self._file.fileno())
                self._synced_at = time.monotonic()
        except OSError as err:
            raise self._stopped(err) from None

    @property
    def n_frames(self) -> int:
        """Samples on disk so far."""
        return self._audio_bytes // 2

    def _stopped(self, err: OSError) -> CannotWrite:
        return CannotWrite(
            f"the recording stopped after {self.n_frames / RATE_HZ:.1f} s ({err.strerror})."
            f" What was said until then is kept in {self.path}{_advice(err)}; the next selfkind"
            " command that opens the journal adds it"
        )

    def finish(self) -> None:
        """No more audio: everything written is on disk. The lock is still held."""
        if not self._file.closed:
            try:
                os.fsync(self._file.fileno())
            except OSError as err:
                raise self._stopped(err) from None

    def discard(self) -> None:
        """Remove the recording and its note (nothing worth keeping was said)."""
        self.path.unlink(missing_ok=True)
        self.note.unlink(missing_ok=True)

    def release(self) -> None:
        """Give up the claim: after this, a recording still on disk is anyone's to recover.
        Call it once the recording is kept, discarded, or could not be kept."""
        if not self._file.closed:
            self._file.close()  # closing releases the lock


def _advice(err: OSError) -> str:
    return "; free some space there" if err.errno in (errno.ENOSPC, errno.EDQUOT) else ""


def _write_all(file: BinaryIO, data: bytes) -> int:
    """Write all of ``data`` (an unbuffered write may take only part); the bytes written.
    An OSError (the disk is full) leaves what was written before it in the file."""
    view = memoryview(data)
    while view:
        view = view[file.write(view) or 0 :]
    return len(data)


def pcm_of(partial: Path) -> bytes:
    """The samples of a partial WAV, whatever its header says (it was never finished)."""
    data = partial.read_bytes()[HEADER_BYTES:]
    return data[: len(data) // 2 * 2]
