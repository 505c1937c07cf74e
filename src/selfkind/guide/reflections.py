"""Listening at a playing session's reflection steps: after each prompt the microphone opens
(a soft chime says so), what is said is kept in the journal, and the session moves on when
the speaker has finished. At any step the person may type their answer instead."""

from __future__ import annotations

import queue
import secrets
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from ..devices import microphone_problem
from ..errors import JournalError, SetupError
from ..journal.store import STATUS_DONE, Journal
from ..journal.written import keep_written
from ..listen.listener import Listener, ListenResult
from ..listen.recording import Context
from ..sounds import LISTEN_CUE_S
from ..timeline import Event
from .player import Player


@dataclass(frozen=True)
class ListeningOptions:
    journal_path: Path | None
    """The journal that keeps what is said (None: the one in the data folder)."""
    device: int | str | None = None
    engine: str = "auto"
    model: str | None = None
    end_silence_s: float = 3.0


def listen_at_steps(player: Player, options: ListeningOptions) -> ReflectionSteps:
    """Listening for a session about to play: the recognizer is loaded in its own process
    now, so it is ready by the first step. Without a microphone the steps become quiet
    time, said once in ``messages``."""
    from ..listen.recognizers.worker import RecognizerWorker

    session_id = new_session_id()
    problem = microphone_problem(options.device)
    if problem:
        steps = ReflectionSteps(player, None, options.journal_path, session_id)
        steps.turn_off(problem)
        return steps
    worker = RecognizerWorker(options.engine, options.model)

    def listen(event: Event) -> Listener:
        assert player.timeline is not None
        listener = Listener(
            options.journal_path, worker.new, event.n_frames / event.sample_rate_hz + 1.0,
            Context(event.text, player.timeline.title, session_id), options.device,
            end_silence_s=options.end_silence_s, settle_s=LISTEN_CUE_S + 0.2,
            on_partial=steps.on_partial,
        )  # fmt: skip
        listener.start()
        return listener

    steps = ReflectionSteps(player, listen, options.journal_path, session_id)
    steps.on_close = worker.close
    return steps


def new_session_id() -> str:
    """What ties a session's entries together in the journal."""
    return f"{datetime.now():%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"


class ReflectionSteps:
    """Listens at each reflection step of a playing session and keeps what is said.

    Driven by :meth:`tick` from the display loop; the listening runs in each Listener's
    own thread. When the speaker finishes before the step's time is up, the session moves
    on to the step's end; when the time runs out (or the listener skips), listening stops
    and what was said is kept all the same.

    Typing instead (:meth:`start_typing`, from the keys' thread) stops this step's listening
    (anything already said is kept as an entry of its own) and holds the session until the
    written answer is kept (:meth:`keep_typed`) or set aside (:meth:`abandon_typed`).
    """

    def __init__(
        self,
        player: Player,
        listen: Callable[[Event], Listener] | None,
        journal_path: Path | None = None,
        session_id: str = "",
    ) -> None:
        self.player = player
        self._listen = listen
        """Opens the microphone and starts a Listener for a step (SetupError if it cannot);
        None when there is nothing to listen with (then :meth:`turn_off` says why, or the
        steps were asked to be quiet)."""
        self.journal_path = journal_path
        """Where typed answers are kept (None: the journal in the data folder)."""
        self.session_id = session_id
        self.draft: str | None = None
        """The answer being typed, or None when no one is typing; edited by the keys."""
        self.typing_prompt = ""
        self._typing_event: Event | None = None
        self._paused_for_typing = False
        self._listened_before_typing = False
        self._stopped_for_typing: Listener | None = None
        self._lock = threading.RLock()
        """tick() runs in the display loop, the typing methods in the keys' thread."""
        self.listener: Listener | None = None
        self.partial = ""
        """What has been heard so far at the current step."""
        self.messages: queue.Queue[str] = queue.Queue()
        """Lines for the listener to read: what was kept, or why nothing is heard."""
        self.kept: list[ListenResult] = []
        self.off_reason = ""
        self._event: Event | None = None
        self.on_close: Callable[[], None] = lambda: None
        """Called once listening is over for the session (to stop a recognizer process)."""
        self.show_transcripts = True
        """Whether the messages repeat what was said; off where they may end in a log (not
        a terminal): there they give only the entry's number."""
        player.listening_cues = listen is not None

    @property
    def listens(self) -> bool:
        """Whether the steps are listened at (not turned off, nor asked to be quiet)."""
        return self._listen is not None and not self.off_reason

    @property
    def listening(self) -> bool:
        return self.listener is not None and not self.listener.done.is_set()

    def done_speaking(self) -> None:
        """The listener says they have finished (a key): end this step's listening now."""
        if self.listener is not None:
            self.listener.stop()

    def on_partial(self, text: str) -> None:
        self.partial = text

    def tick(self) -> None:
        with self._lock:
            self._tick()

    def _tick(self) -> None:
        player = self.player
        event = player.current("reflect")
        listener = self.listener
        if listener is not None:
            listener.hold(player.status.paused)
            if listener.done.is_set():
                self._finish(listener)
                if event is not None and event is self._event and self.draft is None:
                    # They have finished: on to the step's closing cue, and the session goes on.
                    target = player.closing_frame(event)
                    if player.status.frame < target:
                        player.command("seek", target)
            elif event is not self._event or player.status.frame >= player.closing_frame(event):
                listener.stop()  # the step is over (its time ran out, or a skip)
            return
        if event is self._event or self.draft is not None:
            return  # still in the step just listened at (or in none), or typing there
        self._event, self.partial = event, ""  # a step entered again is listened at again
        if event is None or self.off_reason or self._listen is None:
            return
        try:
            self.listener = self._listen(event)
        except SetupError as err:
            self.turn_off(str(err))

    def turn_off(self, reason: str) -> None:
        """No listening from here on: the reflections become quiet time."""
        self.off_reason = reason
        self.player.listening_cues = False
        self.messages.put(f"{reason}. The reflections will be quiet time; the session goes on.")

    def _finish(self, listener: Listener) -> None:
        self.listener = None
        if listener.error is not None:
            self.messages.put(
                f"This reflection could not be saved ({listener.error}); its recording is"
                " kept and will be added to your journal next time."
            )
            return
        result = listener.result
        if result is None:
            return
        if listener is self._stopped_for_typing:
            self._stopped_for_typing = None
            if result.entry_id:
                self.kept.append(result)
                self.messages.put(
                    f"What you said before typing is kept as an entry of its own"
                    f" (entry {result.entry_id})."
                )
            return  # room sound alone, discarded: nothing to say while they type
        self.kept.append(result)
        if listener.recognizer_error is not None and not self.off_reason:
            self.messages.put(
                f"{listener.recognizer_error}; recordings are kept to transcribe later"
            )
        if not result.entry_id:
            self.messages.put("Nothing was heard, so nothing was kept.")
        elif result.transcript and self.show_transcripts:
            self.messages.put(
                f"Kept in your journal (entry {result.entry_id}): {result.transcript}"
            )
        elif result.transcript:
            self.messages.put(f"Kept in your journal (entry {result.entry_id}).")
        else:
            self.messages.put(
                f"Kept in your journal (entry {result.entry_id}), to transcribe later."
            )

    # -- typing instead ---------------------------------------------------------------------

    def _step_open(self) -> Event | None:
        """The reflection step being heard, unless it is already closing (its end cue)."""
        event = self.player.current("reflect")
        if event is None or self.player.status.frame >= self.player.closing_frame(event):
            return None
        return event

    def can_type(self) -> bool:
        """Whether the session is at a reflection step now, where an answer can be typed."""
        return self.draft is None and self._step_open() is not None

    def start_typing(self) -> bool:
        """Type this step's answer instead of saying it: listening stops (what was said so
        far is kept on its own), and the session waits. False when not at a step."""
        with self._lock:
            event = self._step_open()
            if self.draft is not None or event is None or self.player.timeline is None:
                return False
            self.draft, self.typing_prompt, self._typing_event = "", event.text, event
            self._listened_before_typing = self.listener is not None
            if self.listener is not None:
                self._stopped_for_typing = self.listener
                self.listener.stop()
            self._paused_for_typing = not self.player.status.paused
            if self._paused_for_typing:
                self.player.command("pause")
            return True

    def keep_typed(self) -> int:
        """Keep the typed answer with its prompt and the practice, then go on to the step's
        end (as when a spoken answer ends). Empty text keeps nothing and returns to the step.
        A journal that cannot be written leaves the text being typed, and says why."""
        with self._lock:
            if self.draft is None:
                return 0
            text = self.draft.strip()
            if not text:
                self.messages.put("Nothing was written, so nothing was kept.")
                self.abandon_typed()
                return 0
            try:
                entry_id = self._keep(text)
            except (JournalError, OSError, sqlite3.Error) as err:
                self.messages.put(
                    f"Your words could not be kept ({err}); they are still here: press enter"
                    " to try again."
                )
                return 0
            self.kept.append(ListenResult(entry_id, 0.0, text, STATUS_DONE))
            # Not repeated: they have just read it as they typed it.
            self.messages.put(f"Kept in your journal (entry {entry_id}).")
            player, event = self.player, self._typing_event
            if event is not None and player.status.frame < player.closing_frame(event):
                player.command("seek", player.closing_frame(event))  # before resuming
            self._end_typing()
            return entry_id

    def abandon_typed(self) -> None:
        """Set the typing aside, keeping nothing: back to the step, listening again if it was."""
        with self._lock:
            if self.draft is None:
                return
            if self._listened_before_typing and self._event is self._typing_event:
                self._event = None  # the step is listened at afresh, for the time it has left
            self._end_typing()

    def _end_typing(self) -> None:
        self.draft, self._typing_event = None, None
        if self._paused_for_typing:
            self.player.command("resume")
        self._paused_for_typing = False

    def _keep(self, text: str) -> int:
        timeline = self.player.timeline
        with Journal(self.journal_path) as journal:
            return keep_written(
                journal, text, self.typing_prompt, timeline.title if timeline else "",
                self.session_id,
            )  # fmt: skip

    def close(self, timeout_s: float = 30.0) -> None:
        """At the end of the session (or on quitting): finish and keep what is being said,
        and what is being typed (nothing a person made is lost on the way out)."""
        said = ""
        with self._lock:
            # Kept first, before waiting for a listener: a second Ctrl-C cannot lose it.
            if self.draft is not None and self.draft.strip():
                text = self.draft.strip()
                try:
                    entry_id = self._keep(text)
                except (JournalError, OSError, sqlite3.Error) as err:
                    said = f"Your words could not be kept ({err}): {text}"
                else:
                    self.kept.append(ListenResult(entry_id, 0.0, text, STATUS_DONE))
                    said = f"What you were typing is kept in your journal (entry {entry_id})."
            self.draft = None
        listener = self.listener
        if listener is not None:
            listener.stop()
            listener.done.wait(timeout_s)
            if listener.done.is_set():
                self._finish(listener)
        if said:
            self.messages.put(said)  # the last word, shown as the screen closes
        self.on_close()
