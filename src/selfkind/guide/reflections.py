"""Listening at a playing session's reflection steps: after each prompt the microphone opens
(a soft chime says so), what is said is kept in the journal, and the session moves on when
the speaker has finished."""

from __future__ import annotations

import queue
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from ..devices import microphone_problem
from ..errors import SetupError
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

    problem = microphone_problem(options.device)
    if problem:
        steps = ReflectionSteps(player, None)
        steps.turn_off(problem)
        return steps
    worker = RecognizerWorker(options.engine, options.model)
    session_id = f"{datetime.now():%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"

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

    steps = ReflectionSteps(player, listen)
    steps.on_close = worker.close
    return steps


class ReflectionSteps:
    """Listens at each reflection step of a playing session and keeps what is said.

    Driven by :meth:`tick` from the display loop; the listening runs in each Listener's
    own thread. When the speaker finishes before the step's time is up, the session moves
    on to the step's end; when the time runs out (or the listener skips), listening stops
    and what was said is kept all the same.
    """

    def __init__(self, player: Player, listen: Callable[[Event], Listener] | None) -> None:
        self.player = player
        self._listen = listen
        """Opens the microphone and starts a Listener for a step (SetupError if it cannot);
        None when there is nothing to listen with (then :meth:`turn_off` says why)."""
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
        player.listening_cues = True

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
        player = self.player
        event = player.current("reflect")
        listener = self.listener
        if listener is not None:
            listener.hold(player.status.paused)
            if listener.done.is_set():
                self._finish(listener)
                if event is not None and event is self._event:
                    # They have finished: on to the step's closing cue, and the session goes on.
                    target = player.closing_frame(event)
                    if player.status.frame < target:
                        player.command("seek", target)
            elif event is not self._event or player.status.frame >= player.closing_frame(event):
                listener.stop()  # the step is over (its time ran out, or a skip)
            return
        if event is self._event:
            return  # still in the step just listened at (or in none)
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

    def close(self, timeout_s: float = 30.0) -> None:
        """At the end of the session (or on quitting): finish and keep what is being said."""
        listener = self.listener
        if listener is not None:
            listener.stop()
            listener.done.wait(timeout_s)
            if listener.done.is_set():
                self._finish(listener)
        self.on_close()
