"""A spoken reflection: microphone -> audio on disk + live transcript -> journal entry.

What a person says is never lost. The audio goes to a WAV file as it arrives (flushed every
block, synced to disk every second), beside a small JSON note of what it answers, and is
locked while recording. If the program dies, :func:`recover` turns the leftovers into
pending journal entries the next time. Transcription runs on the same blocks while the
person speaks, so the text is ready moments after they stop.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import queue
import secrets
import struct
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import SelfkindError, SetupError
from .journal import STATUS_DONE, STATUS_PENDING, Entry, Journal
from .transcribe import RATE_HZ, Recognizer, Transcript

BLOCK_S = 0.1
END_SILENCE_S = 3.0
"""After speech, this much quiet means the speaker has finished."""
MIN_SPEECH_S = 0.3
"""Speech shorter than this (a cough, a click) does not count as having started to speak."""
SPEECH_OVER_FLOOR_DB = 12.0
"""A block this much louder than the room's noise floor is speech..."""
SPEECH_MIN_DBFS = -50.0
"""...and never one quieter than this, however quiet the room."""
FLOOR_RISE_DB_PER_S = 0.5
"""How fast the noise-floor estimate may rise (it falls at once to a quieter block)."""
SYNC_EVERY_S = 1.0
PARTIAL_SUFFIX = ".partial.wav"
_HEADER_BYTES = 44


class VoiceActivity:
    """Decides, block by block, when someone has spoken and then finished.

    Energy against an adaptive noise floor: simple, cheap on the audio path, and robust
    to a steady room hum, which is what a quiet practice room sounds like.
    """

    def __init__(self, end_silence_s: float = END_SILENCE_S) -> None:
        self.end_silence_s = end_silence_s
        self.speech_s = 0.0
        self.quiet_s = 0.0
        self._floor_db: float | None = None

    @property
    def heard_speech(self) -> bool:
        return self.speech_s >= MIN_SPEECH_S

    def feed(self, block: np.ndarray, sample_rate_hz: int = RATE_HZ) -> bool:
        """Take float32 samples; True once the speaker has spoken and then been quiet."""
        if block.size == 0:
            return False
        block_s = block.size / sample_rate_hz
        level_db = 10 * np.log10(max(float(np.mean(np.square(block, dtype=np.float64))), 1e-12))
        if self._floor_db is None:
            self._floor_db = level_db
        self._floor_db = min(self._floor_db + FLOOR_RISE_DB_PER_S * block_s, level_db)
        if level_db > max(self._floor_db + SPEECH_OVER_FLOOR_DB, SPEECH_MIN_DBFS):
            self.speech_s += block_s
            self.quiet_s = 0.0
        elif self.heard_speech:
            self.quiet_s += block_s
        return self.heard_speech and self.quiet_s >= self.end_silence_s


@dataclass(frozen=True)
class Context:
    """What a reflection answers, kept with it (and with a partial recording)."""

    prompt: str = ""
    practice: str = ""
    session_id: str = ""


@dataclass
class Reflection:
    entry_id: int
    """0 when nothing was heard and nothing kept."""
    duration_s: float
    transcript: str
    status: str
    """'done', 'pending' (kept to transcribe later) or 'empty' (nothing heard)."""
    final_wait_s: float = 0.0
    """From the end of listening to the final transcript, in seconds."""


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


def _pcm_of(partial: Path) -> bytes:
    """The samples of a partial WAV, whatever its header says (it was never finished)."""
    data = partial.read_bytes()[_HEADER_BYTES:]
    return data[: len(data) // 2 * 2]


def _keep(journal: Journal, partial: Path, entry: Entry) -> int:
    """Turn a closed partial recording into FLAC + a journal entry, then remove it.

    Safe to repeat after a crash at any step: the FLAC name comes from the recording's,
    and an entry that already points at it is not added twice.
    """
    stem = partial.name[: -len(PARTIAL_SUFFIX)]
    flac = journal.audio_dir / f"{stem}.flac"
    temp = journal.audio_dir / f".{stem}.flac.part"
    try:
        subprocess.run(
            ["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "s16le", "-ar", str(RATE_HZ),
             "-ac", "1", "-i", "pipe:0", "-c:a", "flac", "-f", "flac", str(temp)],
            input=_pcm_of(partial), check=True, capture_output=True,
        )  # fmt: skip
    except FileNotFoundError:
        raise SetupError("ffmpeg is missing; install it with: apt-get install ffmpeg") from None
    except subprocess.CalledProcessError as err:
        temp.unlink(missing_ok=True)
        raise SelfkindError(
            f"could not save the recording {partial} as FLAC; it is kept as it is"
            f" ({err.stderr.decode(errors='replace').strip()})"
        ) from None
    os.chmod(temp, 0o600)
    os.replace(temp, flac)
    entry.audio = flac.name
    existing = journal.with_audio(flac.name)
    entry_id = existing.id if existing else journal.add(entry)
    partial.unlink()
    partial.with_suffix(".json").unlink(missing_ok=True)
    return entry_id


def recover(journal: Journal, on_problem: Callable[[str], None] | None = None) -> list[int]:
    """Recordings cut off by a crash become pending entries: nothing a person said is lost.

    A recording another process is still making (its file is locked) is left alone, and
    one that cannot be saved now stays where it is for next time (``on_problem`` hears why).
    """
    recovered = []
    for partial in sorted(journal.audio_dir.glob(f"*{PARTIAL_SUFFIX}")):
        with open(partial, "rb") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # being recorded (or recovered) right now
            if not partial.exists():
                continue  # another selfkind recovered it a moment ago
            note_path = partial.with_suffix(".json")
            n_bytes = max(partial.stat().st_size - _HEADER_BYTES, 0)
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
                recovered.append(_keep(journal, partial, entry))
            except SelfkindError as err:
                if on_problem is not None:
                    on_problem(str(err))
    return recovered


class _Transcribing:
    """Recognition beside the recording, in a thread of its own: loading a model, or
    falling behind, never delays what goes to disk or the end-of-speech decision."""

    def __init__(
        self,
        make_recognizer: Callable[[], Recognizer],
        on_partial: Callable[[str], None] | None,
    ) -> None:
        self._make = make_recognizer
        self._on_partial = on_partial
        self._pcm: queue.Queue[bytes | None] = queue.Queue()
        self._transcript: Transcript | None = None
        self.error: SetupError | None = None
        self._thread = threading.Thread(target=self._run, name="transcribing", daemon=True)
        self._thread.start()

    def feed(self, pcm: bytes) -> None:
        self._pcm.put(pcm)

    def finish(self) -> Transcript | None:
        """The transcript once everything fed is recognized; None if no engine could run."""
        self._pcm.put(None)
        self._thread.join()
        return self._transcript

    def _run(self) -> None:
        try:
            recognizer = self._make()
        except SetupError as err:
            self.error = err
        except Exception as err:  # noqa: BLE001 - an engine's own failure: said, audio kept
            self.error = SetupError(f"the speech recognizer could not start ({err})")
        if self.error is not None:
            while self._pcm.get() is not None:
                pass  # the audio is on disk; it will be transcribed later
            return
        failed = False  # an engine that fails mid-way: the audio is kept, to transcribe later
        while (pcm := self._pcm.get()) is not None:
            if failed:
                continue
            try:
                recognizer.accept(pcm)
                if self._on_partial is not None and self._pcm.empty():
                    self._on_partial(recognizer.partial())
            except Exception:  # noqa: BLE001
                failed = True
        if not failed:
            with contextlib.suppress(Exception):
                self._transcript = recognizer.finish()


@dataclass
class Listener:
    """Listens in its own thread until the speaker finishes, ``max_s`` passes, or
    :meth:`stop`; then keeps audio and transcript in the journal at ``journal_path``.

    The microphone is opened by :meth:`start`, which raises SetupError at once if there
    is none.
    """

    journal_path: Path | None
    make_recognizer: Callable[[], Recognizer] | None
    """Called in a thread of its own once the microphone is open (a recognizer can take a
    moment to load; what is said meanwhile is on disk, and recognized once it is ready).
    None, or a SetupError from it, keeps the audio as a pending entry."""
    max_s: float
    context: Context = field(default_factory=Context)
    device: int | str | None = None
    end_silence_s: float = END_SILENCE_S
    settle_s: float = 0.0
    """Audio this early is kept but not judged for speech (our own start cue)."""
    on_partial: Callable[[str], None] | None = None
    result: Reflection | None = None
    error: BaseException | None = None
    recognizer_error: SetupError | None = None

    def __post_init__(self) -> None:
        self.done = threading.Event()
        self._stop = threading.Event()
        self._held = threading.Event()
        self._blocks: queue.Queue[np.ndarray] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="listener", daemon=True)
        self._microphone = None

    def start(self) -> None:
        from .devices import Microphone

        self._microphone = Microphone(RATE_HZ, self._blocks.put, self.device, BLOCK_S)
        try:
            self._microphone.start()
        except Exception as err:  # PortAudio's errors are plain exceptions from its C layer
            raise SetupError(f"the microphone could not be started ({err})") from None
        self._thread.start()

    def stop(self) -> None:
        """End listening now (a key, a skip, the session moving on); what was said is kept."""
        self._stop.set()

    def hold(self, held: bool) -> None:
        """While held (the session is paused), quiet does not count towards the end."""
        if held:
            self._held.set()
        else:
            self._held.clear()

    def _run(self) -> None:
        try:
            self.result = self._listen()
        except BaseException as err:  # noqa: BLE001 - reported by the caller, not lost
            self.error = err
        finally:
            self.done.set()

    def _listen(self) -> Reflection:
        assert self._microphone is not None
        activity = VoiceActivity(self.end_silence_s)
        try:
            recording = PartialRecording(_audio_dir(self.journal_path), self.context)
        except BaseException:
            self._microphone.close()
            raise
        transcribing = (
            _Transcribing(self.make_recognizer, self.on_partial) if self.make_recognizer else None
        )

        def take(block: np.ndarray) -> None:
            pcm = (np.clip(block, -1, 1) * 32767).astype("<i2").tobytes()
            recording.write(pcm)
            if transcribing is not None:
                transcribing.feed(pcm)

        try:
            while not self._stop.is_set():
                try:
                    block = self._blocks.get(timeout=0.1)
                except queue.Empty:
                    if not self._microphone.active:
                        break  # the device went away: keep what there is
                    continue
                take(block)
                heard_s = recording.n_frames / RATE_HZ
                finished = heard_s > self.settle_s and activity.feed(block)
                if self._held.is_set():
                    activity.quiet_s, finished = 0.0, False
                if finished or heard_s >= self.max_s:
                    break
            self._microphone.close()
            stopped = time.monotonic()
            while not self._blocks.empty():  # what arrived after the last block read
                take(self._blocks.get())
        finally:
            self._microphone.close()
            recording.close()
        transcript = transcribing.finish() if transcribing is not None else None
        if transcribing is not None:
            self.recognizer_error = transcribing.error
        final_wait_s = time.monotonic() - stopped
        if not activity.heard_speech and not (transcript and transcript.text):
            # Only room sound: there is nothing here the person made, so nothing to keep.
            recording.path.unlink()
            recording.note.unlink(missing_ok=True)
            duration_s = recording.n_frames / RATE_HZ
            return Reflection(0, duration_s, "", "empty", final_wait_s)
        entry = Entry(
            started_at=recording.started_at,
            prompt=self.context.prompt,
            practice=self.context.practice,
            session_id=self.context.session_id,
            duration_s=recording.n_frames / RATE_HZ,
            transcript=transcript.text if transcript else "",
            words=[w.__dict__ for w in transcript.words] if transcript else [],
            engine=transcript.engine if transcript else "",
            model=transcript.model if transcript else "",
            status=STATUS_DONE if transcript else STATUS_PENDING,
        )
        with Journal(self.journal_path) as journal:
            entry_id = _keep(journal, recording.path, entry)
        return Reflection(entry_id, entry.duration_s, entry.transcript, entry.status, final_wait_s)


def _audio_dir(journal_path: Path | None) -> Path:
    with Journal(journal_path) as journal:
        return journal.audio_dir


def record(listener: Listener) -> Reflection:
    """Listen once, blocking, until the speaker finishes (Ctrl-C also ends it, kept)."""
    listener.start()
    try:
        while not listener.done.wait(0.1):
            pass
    except KeyboardInterrupt:
        listener.stop()
        with contextlib.suppress(KeyboardInterrupt):
            listener.done.wait(30)
    if listener.error is not None:
        raise listener.error
    assert listener.result is not None
    return listener.result
