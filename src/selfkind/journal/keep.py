"""Keeping what was heard: a finished recording becomes FLAC + a journal entry, and
recordings cut off by a crash are recovered as pending entries, so nothing a person said
is lost."""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import stat
import time
from collections.abc import Callable
from pathlib import Path

from .. import ffmpeg
from ..errors import CannotWrite, JournalError, SelfkindError
from ..files import remove_stale_parts, replacing
from ..listen.recognizers import RATE_HZ
from ..listen.recording import HEADER_BYTES, PARTIAL_SUFFIX, pcm_of
from ..listen.vad import MIN_SPEECH_S
from .store import STATUS_PENDING, Entry, Journal


def keep(journal: Journal, partial: Path, entry: Entry) -> int:
    """Turn a closed partial recording into FLAC + a journal entry, then remove it.

    Safe to repeat after a crash at any step: the FLAC name comes from the recording's,
    and an entry that already points at it is not added twice.
    """
    stem = partial.name[: -len(PARTIAL_SUFFIX)]
    flac = journal.audio_dir / f"{stem}.flac"
    try:
        with replacing(flac, 0o600) as temp:
            ffmpeg.run(
                ["-y", "-f", "s16le", "-ar", str(RATE_HZ), "-ac", "1", "-i", "pipe:0",
                 "-c:a", "flac", "-f", "flac", str(temp)],
                input_bytes=pcm_of(partial),
            )  # fmt: skip
    except ffmpeg.FfmpegFailed as err:
        raise SelfkindError(
            f"could not save the recording {partial} as FLAC; it is kept as it is ({err.reason})"
        ) from None
    except OSError as err:  # no room for the FLAC's temporary file, say
        raise CannotWrite(
            f"could not save the recording {partial} as FLAC; it is kept as it is ({err.strerror})"
        ) from None
    entry.audio = flac.name
    existing = journal.with_audio(flac.name)
    entry_id = existing.id if existing else journal.add(entry)
    partial.unlink()
    partial.with_suffix(".json").unlink(missing_ok=True)
    return entry_id


def keep_in(journal_path: Path | None, partial: Path, entry: Entry) -> int:
    """:func:`keep` into the journal at ``journal_path``. If the journal cannot be opened or
    written (a full disk, another process), the recording stays as it is, and the error
    says where: the next selfkind that opens the journal recovers it."""
    try:
        with Journal(journal_path) as journal:
            return keep(journal, partial, entry)
    except JournalError as err:
        raise JournalError(
            f"{err}. The recording is kept in {partial}; the next selfkind command that opens"
            " the journal adds it"
        ) from None


def recover(journal: Journal, on_problem: Callable[[str], None] | None = None) -> list[int]:
    """Recordings cut off by a crash become pending entries: nothing a person said is lost.

    A recording whose owner is alive (its file is locked until the owner has kept it) is
    left alone, and one that cannot be saved now stays where it is for next time
    (``on_problem`` hears why).
    """
    for starting in journal.audio_dir.glob(f"*{PARTIAL_SUFFIX}.new"):
        _remove_stale(starting)  # its owner died before the first sample: nothing was said
    remove_stale_parts(journal.audio_dir)  # FLACs half-written by a killed keep(): redone below
    recovered = []
    for partial in sorted(journal.audio_dir.glob(f"*{PARTIAL_SUFFIX}")):
        try:
            handle = open(partial, "rb")  # noqa: SIM115 - closed below, releasing the lock
        except FileNotFoundError:
            continue  # its owner kept it between the listing and now
        with handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # its owner is recording or keeping it (or another recovers it)
            if not partial.exists():
                continue  # kept by its owner (or recovered elsewhere) a moment ago
            note_path = partial.with_suffix(".json")
            n_bytes = max(partial.stat().st_size - HEADER_BYTES, 0)
            if n_bytes < MIN_SPEECH_S * RATE_HZ * 2:
                partial.unlink()  # cut off before anything could have been said
                note_path.unlink(missing_ok=True)
                continue
            try:
                note = json.loads(note_path.read_text("utf-8"))
            except (OSError, ValueError):
                started = dt.datetime.fromtimestamp(partial.stat().st_mtime).astimezone()
                note = {"started_at": started.isoformat(timespec="seconds")}
            entry = Entry(
                started_at=str(note.get("started_at", "")),
                prompt=str(note.get("prompt", "")),
                practice=str(note.get("practice", "")),
                session_id=str(note.get("session_id", "")),
                duration_s=n_bytes / 2 / RATE_HZ,
                status=STATUS_PENDING,
            )
            try:
                recovered.append(keep(journal, partial, entry))
            except SelfkindError as err:
                if on_problem is not None:
                    on_problem(str(err))
    return recovered


STALE_START_S = 60.0
"""A recording still under its starting name after this long was started by a process that
died (the name lasts microseconds: between creating, locking and renaming)."""


def _remove_stale(path: Path) -> None:
    try:
        if time.time() - path.stat().st_mtime < STALE_START_S:
            return  # perhaps not locked yet: its owner may be between open and flock
        handle = open(path, "rb")  # noqa: SIM115
    except FileNotFoundError:
        return
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return
        path.unlink(missing_ok=True)


def open_journal(
    path: Path | None,
    on_recovered: Callable[[int], None] | None = None,
    on_problem: Callable[[str], None] | None = None,
) -> Journal:
    """The journal at ``path`` (None: the data folder), with recordings cut off last time
    recovered into it first; ``on_recovered`` hears each new entry's number, and
    ``on_problem`` what the user should know (a folder others can read)."""
    store = Journal(path)
    if store.shared_folder is not None and on_problem is not None:
        mode = stat.S_IMODE(store.shared_folder.stat().st_mode)
        on_problem(
            f"the journal's folder {store.shared_folder} is open to other users (mode"
            f" {mode:o}); it is left as it is, and the journal's files in it are private,"
            " but for privacy keep the journal in a folder only you can open"
        )
    for entry_id in recover(store, on_problem):
        if on_recovered is not None:
            on_recovered(entry_id)
    return store
