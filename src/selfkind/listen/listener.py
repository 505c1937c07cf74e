"""Listening for a spoken reflection: microphone -> recording on disk + live transcript ->
journal entry. Transcription runs on the same blocks while the person speaks, so the text is
ready moments after they stop; when it is not (a recognizer still loading, a busy machine),
the audio is kept first, as a pending entry, and the words are added when they come."""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import JournalError, SetupError
from ..journal.keep import keep_in
from ..journal.store import STATUS_DONE, STATUS_PENDING, Entry, Journal
from .recognizers import RATE_HZ, Recognizer, Transcript
from .recording import Context, PartialRecording
from .vad import END_SILENCE_S, Detector, open_detector

BLOCK_S = 0.1
PARTIAL_EVERY_S = 0.5
"""While recognition lags behind the speaker, partial words are still shown this often."""
KEEP_AUDIO_AFTER_S = 1.0
"""A transcript not ready this long after listening ends: the audio is kept at once, as a
pending entry, and its words added when they come. Usually the words are ready within
milliseconds, and one entry is written, complete."""


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
        self._ended = False
        self.done = threading.Event()
        """Set once recognition is over (see :attr:`transcript`), or has failed."""
        self._thread = threading.Thread(target=self._run, name="transcribing", daemon=True)
        self._thread.start()

    def feed(self, pcm: bytes) -> None:
        self._pcm.put(pcm)

    def end(self) -> None:
        """No more audio: recognition finishes with what was fed (see :attr:`done`)."""
        if not self._ended:
            self._ended = True
            self._pcm.put(None)

    @property
    def transcript(self) -> Transcript | None:
        """Once :attr:`done`: the words of everything fed; None if no engine could run."""
        return self._transcript

    def finish(self) -> Transcript | None:
        """The transcript once everything fed is recognized; None if no engine could run."""
        self.end()
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
            self._recognize()
        finally:
            self.done.set()

    def _recognize(self) -> None:
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
        # Finished even when no transcript is wanted: a recognizer shared between
        # utterances (the guide's worker) takes the next one only after this.
        with contextlib.suppress(Exception):
            transcript = recognizer.finish()
            if not failed and not self._abandoned.is_set():
                self._transcript = transcript


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
    """Words heard so far, while listening (not after: a later step may be listening)."""
    result: ListenResult | None = None
    error: BaseException | None = None
    recognizer_error: SetupError | None = None
    entry_id: int = 0
    """The journal entry, once the audio is kept (perhaps before its words are)."""

    def __post_init__(self) -> None:
        self.listened = threading.Event()
        """Set when listening is over (the microphone closed, the recording on disk): the
        session may go on while the words are recognized and kept (:attr:`done`)."""
        self.done = threading.Event()
        """Set when the entry is kept with its words, or kept to transcribe later, or
        nothing was kept (:attr:`result`), or it failed (:attr:`error`)."""
        self._give_up = threading.Event()
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

    def give_up(self) -> None:
        """Wait no longer for the words (the program is closing): listening ends, and the
        audio is kept as it is, as a pending entry, to transcribe later."""
        self._give_up.set()
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
            self.listened.set()
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
            Transcribing(self.make_recognizer, self._partial) if self.make_recognizer else None
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
        self.listened.set()
        transcript = None
        if transcribing is not None:
            transcript = self._await_words(transcribing, recording, activity.heard_speech)
            self.recognizer_error = transcribing.error
        if self.entry_id:  # the audio was kept before its words came
            duration_s = recording.n_frames / RATE_HZ
            result = ListenResult(self.entry_id, duration_s, "", STATUS_PENDING)
            if transcript is not None:
                try:
                    add_words(self.journal_path, self.entry_id, transcript)
                except JournalError as err:  # the entry stays pending, said as such
                    self.recognizer_error = SetupError(f"its words could not be kept ({err})")
                else:
                    result = ListenResult(self.entry_id, duration_s, transcript.text, STATUS_DONE)
        else:
            result = keep_heard(
                self.journal_path, recording, self.context, transcript, activity.heard_speech
            )
            self.entry_id = result.entry_id
        result.final_wait_s = time.monotonic() - stopped
        return result

    def _partial(self, text: str) -> None:
        if self.on_partial is not None and not self.listened.is_set():
            self.on_partial(text)

    def _await_words(
        self, transcribing: Transcribing, recording: PartialRecording, heard_speech: bool
    ) -> Transcript | None:
        """The transcript of everything recorded, however long the recognizer takes (or
        None once :meth:`give_up` is called). Speech whose words are not ready within
        KEEP_AUDIO_AFTER_S is kept meanwhile, as a pending entry (:attr:`entry_id`)."""
        transcribing.end()
        keep_at = time.monotonic() + KEEP_AUDIO_AFTER_S
        while not transcribing.done.wait(0.05):
            if self._give_up.is_set():
                transcribing.abandon()
                return None
            if heard_speech and not self.entry_id and time.monotonic() >= keep_at:
                kept = keep_heard(self.journal_path, recording, self.context, None, True)
                self.entry_id = kept.entry_id
        return transcribing.transcript

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


def add_words(journal_path: Path | None, entry_id: int, transcript: Transcript) -> None:
    """The words of an entry kept before they were ready: the entry is done."""
    with Journal(journal_path) as journal:
        journal.update_transcript(
            entry_id, transcript.text, [w.__dict__ for w in transcript.words],
            transcript.engine, transcript.model,
        )  # fmt: skip


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
