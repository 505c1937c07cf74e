"""Listening for a spoken reflection: microphone -> recording on disk + live transcript ->
journal entry. Transcription runs on the same blocks while the person speaks, so the text is
ready moments after they stop."""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import SetupError
from ..journal.keep import keep_in
from ..journal.store import STATUS_DONE, STATUS_PENDING, Entry, Journal
from .recognizers import RATE_HZ, Recognizer, Transcript
from .recording import Context, PartialRecording
from .vad import END_SILENCE_S, Detector, open_detector

BLOCK_S = 0.1
PARTIAL_EVERY_S = 0.5
"""While recognition lags behind the speaker, partial words are still shown this often."""


@dataclass
class ListenResult:
    entry_id: int
    """0 when nothing was heard and nothing kept."""
    duration_s: float
    transcript: str
    status: str
    """'done', 'pending' (kept to transcribe later) or 'empty' (nothing heard)."""
    final_wait_s: float = 0.0
    """From the end of listening to the final transcript, in seconds."""


class Transcribing:
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
        self._abandoned = threading.Event()
        self._thread = threading.Thread(target=self._run, name="transcribing", daemon=True)
        self._thread.start()

    def feed(self, pcm: bytes) -> None:
        self._pcm.put(pcm)

    def finish(self) -> Transcript | None:
        """The transcript once everything fed is recognized; None if no engine could run."""
        self._pcm.put(None)
        self._thread.join()
        return self._transcript

    def abandon(self) -> None:
        """No transcript is wanted (the recording failed): the thread skips what is still
        queued and ends, rather than wait for audio that will never come. Returns at once;
        a block being recognized, or a model still loading, is let finish."""
        self._abandoned.set()
        self._pcm.put(None)

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
        shown_at = time.monotonic()
        while (pcm := self._pcm.get()) is not None:
            if failed or self._abandoned.is_set():
                continue
            try:
                recognizer.accept(pcm)
                # Words so far when caught up, and at least every PARTIAL_EVERY_S while behind
                # (a busy machine): the person sees the words come, late rather than never.
                now = time.monotonic()
                if self._on_partial is not None and (
                    self._pcm.empty() or now - shown_at >= PARTIAL_EVERY_S
                ):
                    self._on_partial(recognizer.partial())
                    shown_at = now
            except Exception:  # noqa: BLE001
                failed = True
        if not failed and not self._abandoned.is_set():
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
    result: ListenResult | None = None
    error: BaseException | None = None
    recognizer_error: SetupError | None = None

    def __post_init__(self) -> None:
        self.done = threading.Event()
        self._stop = threading.Event()
        self._held = threading.Event()
        self._blocks: queue.Queue[np.ndarray] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="listener", daemon=True)
        self._microphone = None
        self._activity: Detector | None = None
        self._recording: PartialRecording | None = None
        """Claimed (locked) from its creation until the entry is kept: another selfkind
        recovers only recordings whose owner is gone."""

    def start(self) -> None:
        from ..devices import Microphone

        # The detector first: Silero's network takes a moment to load, which must not
        # hold up the first blocks once the microphone runs.
        self._activity = open_detector(self.end_silence_s)
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
            if self._recording is not None:
                self._recording.release()  # kept, discarded, or left for recovery
            self.done.set()

    def _listen(self) -> ListenResult:
        assert self._microphone is not None
        activity = self._activity
        assert activity is not None
        try:
            recording = self._recording = PartialRecording(
                _audio_dir(self.journal_path), self.context
            )
        except BaseException:
            self._microphone.close()
            raise
        transcribing = (
            Transcribing(self.make_recognizer, self.on_partial) if self.make_recognizer else None
        )

        def take(block: np.ndarray) -> None:
            pcm = (np.clip(block, -1, 1) * 32767).astype("<i2").tobytes()
            recording.write(pcm)
            if transcribing is not None:
                transcribing.feed(pcm)

        try:
            stopped = self._record(recording, activity, take)
        except BaseException:
            if transcribing is not None:
                transcribing.abandon()  # a full disk: nothing more will come to recognize
            raise
        transcript = transcribing.finish() if transcribing is not None else None
        if transcribing is not None:
            self.recognizer_error = transcribing.error
        result = keep_heard(
            self.journal_path, recording, self.context, transcript, activity.heard_speech
        )
        result.final_wait_s = time.monotonic() - stopped
        return result

    def _record(
        self, recording: PartialRecording, activity: Detector, take: Callable[[np.ndarray], None]
    ) -> float:
        """Hand blocks to ``take`` until the speaker finishes, the time is up or listening is
        stopped; the microphone is closed and the recording finished however it ends.
        Returns when listening ended (time.monotonic)."""
        assert self._microphone is not None
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
            recording.finish()  # still claimed: released in _run once kept
        return stopped


def keep_heard(
    journal_path: Path | None,
    recording: PartialRecording,
    context: Context,
    transcript: Transcript | None,
    heard_speech: bool,
) -> ListenResult:
    """A finished recording (still claimed by its owner) and its transcript (None if no
    engine could run: kept as pending) become a journal entry; room sound alone is discarded.
    The terminal's listener and the web page's reflections both end here."""
    duration_s = recording.n_frames / RATE_HZ
    if not heard_speech and not (transcript and transcript.text):
        # Only room sound: there is nothing here the person made, so nothing to keep.
        recording.discard()
        return ListenResult(0, duration_s, "", "empty")
    entry = Entry(
        started_at=recording.started_at,
        prompt=context.prompt,
        practice=context.practice,
        session_id=context.session_id,
        duration_s=duration_s,
        transcript=transcript.text if transcript else "",
        words=[w.__dict__ for w in transcript.words] if transcript else [],
        engine=transcript.engine if transcript else "",
        model=transcript.model if transcript else "",
        status=STATUS_DONE if transcript else STATUS_PENDING,
    )
    entry_id = keep_in(journal_path, recording.path, entry)
    return ListenResult(entry_id, entry.duration_s, entry.transcript, entry.status)


def _audio_dir(journal_path: Path | None) -> Path:
    with Journal(journal_path) as journal:
        return journal.audio_dir


def record(listener: Listener) -> ListenResult:
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
