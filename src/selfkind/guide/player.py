"""Live guidance: a session played through the sound card as it is mixed.

Three threads share the work. A producer renders the timeline a tenth of a second at a time
(mix, then master) into a short queue; the PortAudio callback only copies queued samples to
the device, so no mixing happens on the audio thread; the caller's thread shows where the
session is and turns keys into commands. Commands (pause, skip, back, quit) drop what is
queued and continue from what was last heard, with short fades so nothing clicks.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..devices import Speaker
from ..errors import DeviceLost
from ..levels import CLIP_LUFS, LOSSLESS_CEILING_DBTP, TARGET_LUFS
from ..master import Master
from ..mix import SessionMix
from ..sounds import BELL_RING_S, bell_strike, leveled, listen_cue
from ..timeline import Event, Timeline

BLOCK_S = 0.1
"""Samples rendered ahead per step; with QUEUE_BLOCKS, how far ahead the producer runs."""
QUEUE_BLOCKS = 4
CUE_GAP_S = 0.5
"""Quiet between a reflection's closing cue and the words that follow it."""
DEVICE_LATENCY_S = 0.1
"""Audio the sound device holds; PortAudio's "low" (~9 ms here) stutters under load."""
FADE_S = 0.25
"""Fade for pause, resume and skips."""
QUIT_FADE_S = 1.5
"""A gentle close: never an abrupt cut."""
BACK_GRACE_S = 3.0
"""Back within this long after a section starts goes to the one before it."""


@dataclass
class Status:
    """What the listener hears now; read by the display, written by the audio callback."""

    frame: int = 0
    paused: bool = False
    finished: bool = False
    underruns: int = 0


class Player:
    """Plays a Timeline live. Use :meth:`start`, then commands, then :meth:`wait`."""

    def __init__(
        self,
        prepare: Callable[[], SessionMix],
        sample_rate_hz: int,
        device: int | str | None = None,
        prelude_s: float = 0.0,
    ) -> None:
        self._prepare = prepare
        self.mix: SessionMix | None = None
        self.timeline: Timeline | None = None
        self.ready = threading.Event()
        """Set once the session is prepared (speech synthesized, timeline compiled)."""
        self.rate = sample_rate_hz
        self.device = device
        self.status = Status()
        self._block = round(BLOCK_S * self.rate)
        self._queue: queue.Queue[tuple[int, np.ndarray] | None] = queue.Queue(QUEUE_BLOCKS)
        self._commands: queue.Queue[tuple[str, int]] = queue.Queue()
        self._current: tuple[int, np.ndarray] | None = None
        self._offset = 0
        self._playing = False
        self._stop = threading.Event()
        self._quit_requested = threading.Event()
        self._quit_deadline: float | None = None
        self._stream = None
        self._producer: threading.Thread | None = None
        self._prelude = self._make_prelude(prelude_s)
        self.error: BaseException | None = None
        self.listening_cues = False
        """Sound the soft listening cues where reflection steps begin and end (set while a
        microphone listens at them)."""
        self._cue_sounds = {
            opening: listen_cue(self.rate, opening)
            * np.float32(leveled(listen_cue(self.rate, opening), self.rate, CLIP_LUFS - 9))
            for opening in (True, False)
        }

    def _make_prelude(self, prelude_s: float) -> np.ndarray:
        """A soft bell and a quiet moment to settle before the first word (``--delay``)."""
        if prelude_s <= 0:
            return np.zeros(0, dtype=np.float32)
        strike = bell_strike(self.rate)
        strike = strike * np.float32(leveled(strike, self.rate, CLIP_LUFS - 8))
        n = round(max(prelude_s, 0.5) * self.rate)
        bed = np.zeros(max(n, 0), dtype=np.float32)
        ring = strike[: min(strike.size, n, round(BELL_RING_S * self.rate))]
        bed[: ring.size] += ring
        # Let the ring die away within the prelude rather than cut it.
        fade = min(round(2.0 * self.rate), bed.size)
        bed[bed.size - fade :] *= np.linspace(1, 0, fade, dtype=np.float32) ** 2
        return bed

    # -- control ----------------------------------------------------------------------------

    def start(self) -> None:
        """Open the device and begin: the prelude sounds at once while the session is prepared."""
        self._producer = threading.Thread(target=self._produce, name="mixer", daemon=True)
        self._producer.start()
        self._stream = Speaker(
            self.rate, self._fill, self._on_finished, self.device, DEVICE_LATENCY_S
        )
        self._stream.start()

    def command(self, name: str, argument: int = 0) -> None:
        self._commands.put((name, argument))

    def toggle_pause(self) -> None:
        self.command("resume" if self.status.paused else "pause")

    def skip(self, direction: int) -> None:
        if self.timeline is not None and self.status.frame >= 0:
            self.command("seek", self._section_target(direction))

    def quit(self) -> None:
        self._quit_requested.set()
        self._quit_deadline = time.monotonic() + QUIT_FADE_S + 2.0
        self.command("quit")

    def wait(
        self,
        on_tick: Callable[[], None] | None = None,
        tick_s: float = 0.2,
        timeout_s: float | None = None,
    ) -> None:
        """Block until the session ends (or is quit), calling ``on_tick`` as it plays.

        With ``timeout_s`` (used after quitting, to let the fade finish) it closes the
        stream when the time is up, finished or not: stopping must never hang.
        """
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        inactive_since = None
        while not self.status.finished and self.error is None:
            now = time.monotonic()
            if (deadline is not None and now > deadline) or (
                self._quit_deadline is not None and now > self._quit_deadline
            ):
                break
            if on_tick:
                on_tick()
            time.sleep(tick_s)
            # A stream that stops by itself before the end lost its device (unplugged, or
            # the sound server went away).
            if self._stream is not None and not self._stream.active:
                inactive_since = inactive_since or time.monotonic()
                if time.monotonic() - inactive_since > 1.0 and not self.status.finished:
                    self.error = DeviceLost(
                        f"the sound device stopped at {self.position_s:.0f}s; run the same"
                        " command again to start afresh"
                    )
        if on_tick:
            on_tick()
        self.close()

    def close(self) -> None:
        self._stop.set()
        if self._stream is not None:
            try:
                self._stream.close()
            finally:
                self._stream = None

    # -- where we are -------------------------------------------------------------------------

    @property
    def position_s(self) -> float:
        return max(self.status.frame, 0) / self.rate

    def current(self, kind: str) -> Event | None:
        """The event of a kind being heard now (the section, or the caption)."""
        frame = self.status.frame
        found = None
        if self.timeline is None or frame < 0:
            return None
        for event in self.timeline.events:
            if event.kind == kind and event.start_frame <= frame < event.end_frame:
                found = event
        return found

    def _section_target(self, direction: int) -> int:
        if self.timeline is None:
            return 0
        frame = max(self.status.frame, 0)
        starts = [e.start_frame for e in self.timeline.of_kind("section")] or [0]
        if direction > 0:
            later = [s for s in starts if s > frame]
            return later[0] if later else self.timeline.n_frames
        earlier = [s for s in starts if s <= frame]
        if not earlier:
            return 0
        if frame - earlier[-1] < BACK_GRACE_S * self.rate and len(earlier) > 1:
            return earlier[-2]
        return earlier[-1]

    # -- the producer thread ------------------------------------------------------------------

    def _produce(self) -> None:
        try:
            self._run_producer()
        except BaseException as err:  # noqa: BLE001 - shown by the caller, not lost in a thread
            self.error = err
            self._put_end()

    def _get_ready(self) -> None:
        try:
            mix = self._prepare()
        except BaseException as err:  # noqa: BLE001 - shown by the caller
            self.error = err
            self.ready.set()
            return
        self.mix, self.timeline = mix, mix.timeline
        self.ready.set()

    def _run_producer(self) -> None:
        gain_db = TARGET_LUFS - CLIP_LUFS
        master = Master(self.rate, gain_db, LOSSLESS_CEILING_DBTP)
        preparing = threading.Thread(target=self._get_ready, name="prepare", daemon=True)
        if self._prelude.size == 0:
            preparing.start()
        for index, start in enumerate(range(0, self._prelude.size, self._block)):
            if self._stop.is_set() or self._quit_requested.is_set():
                self._put_end()
                return
            self._put(-1 - start, self._prelude[start : start + self._block] * master.gain)
            # Synthesis competes for the interpreter; let the bell reach the device first.
            if index == QUEUE_BLOCKS:
                preparing.start()
        if not preparing.is_alive() and not self.ready.is_set():
            preparing.start()
        # Quiet (never counted as an underrun) until the session is ready.
        self._playing = False
        while not self.ready.wait(0.05):
            if self._stop.is_set() or self._quit_requested.is_set():
                self._put_end()
                return
        if self.mix is None or self.timeline is None:
            self._put_end()
            return
        mix, timeline = self.mix, self.timeline
        cue_marks = self._cue_marks(timeline)
        position = 0
        fade_in = 0
        paused = False
        quitting = False
        while not self._stop.is_set():
            try:
                name, argument = self._commands.get_nowait()
            except queue.Empty:
                name = ""
            if name:
                position = self._drop_queued(position)
                if name == "pause" and not paused:
                    self._fade_out(master, position, FADE_S)
                    position += round(FADE_S * self.rate)
                    paused = True
                    self.status.paused = True
                elif name == "resume" and paused:
                    paused, fade_in = False, round(FADE_S * self.rate)
                    self.status.paused = False
                elif name == "seek":
                    if not paused:
                        self._fade_out(master, position, FADE_S)
                    position = min(max(argument, 0), timeline.n_frames)
                    master = Master(self.rate, gain_db, LOSSLESS_CEILING_DBTP)
                    fade_in = round(FADE_S * self.rate)
                elif name == "quit":
                    if not paused:
                        self._fade_out(master, position, QUIT_FADE_S)
                    quitting = True
            if quitting or position >= timeline.n_frames:
                tail = master.flush() if not quitting else np.zeros(0, dtype=np.float32)
                if tail.size:
                    self._put(position, tail)
                self._put_end()
                return
            if paused:
                time.sleep(0.02)
                continue
            block = mix.render(position, position + self._block)
            if fade_in:
                ramp = np.minimum(np.arange(block.size) / max(fade_in, 1), 1.0)
                block = block * (np.sin(ramp * np.pi / 2) ** 2).astype(np.float32)
                fade_in = 0
            # Cues after the fade: the closing cue, sounded right after a seek, stays whole.
            self._put(position, master.process(self._with_cues(block, position, cue_marks)))
            position += self._block

    def closing_frame(self, event: Event) -> int:
        """Where a reflection step's closing cue starts: so that it has finished, with a
        breath to spare, before the next words."""
        n = self._cue_sounds[False].size + round(CUE_GAP_S * self.rate)
        return max(event.start_frame + self._cue_sounds[True].size, event.end_frame - n)

    def _cue_marks(self, timeline: Timeline) -> list[tuple[int, np.ndarray]]:
        """Where each cue starts in the session, and which cue: found once per session."""
        marks = []
        for event in timeline.of_kind("reflect"):
            marks.append((event.start_frame, self._cue_sounds[True]))
            marks.append((self.closing_frame(event), self._cue_sounds[False]))
        return marks

    def _with_cues(
        self, block: np.ndarray, start: int, marks: list[tuple[int, np.ndarray]]
    ) -> np.ndarray:
        """Mix in the cues that fall in this block. Placed by frame, so they are exact,
        and a seek to a step's end (the speaker finished early) still sounds its cue."""
        if not self.listening_cues:
            return block
        stop = start + block.size
        for frame, cue in marks:
            lo, hi = max(frame, start), min(frame + cue.size, stop)
            if lo < hi:
                block[lo - start : hi - start] += cue[lo - frame : hi - frame]
        return block

    def _fade_out(self, master: Master, position: int, fade_s: float) -> None:
        assert self.mix is not None
        n = round(fade_s * self.rate)
        block = master.process(self.mix.render(position, position + n))
        ramp = np.cos(np.linspace(0, np.pi / 2, block.size)) ** 2
        self._put(position, (block * ramp).astype(np.float32))

    def _drop_queued(self, position: int) -> int:
        """Forget what was rendered but not yet heard, except the next block, so the device
        never runs dry while the change is rendered; returns the frame to continue from."""
        dropped = []
        while True:
            try:
                dropped.append(self._queue.get_nowait())
            except queue.Empty:
                break
        if dropped and dropped[0] is not None and dropped[0][0] >= 0:
            start, block = dropped[0]
            self._queue.put(dropped[0])
            return start + block.size
        return max(self.status.frame, 0) if self.status.frame >= 0 else position

    def _put_end(self) -> None:
        """Tell the audio thread the session is over (without blocking forever on it)."""
        while not self._stop.is_set():
            try:
                self._queue.put(None, timeout=0.1)
                return
            except queue.Full:
                continue

    def _put(self, start: int, block: np.ndarray) -> None:
        while not self._stop.is_set():
            try:
                self._queue.put((start, block), timeout=0.1)
                return
            except queue.Full:
                continue

    # -- the audio thread -----------------------------------------------------------------------

    def _fill(self, out: np.ndarray, underflow: bool) -> bool:
        """The Speaker's callback: copy queued samples into ``out``; True at the end."""
        if underflow:
            self.status.underruns += 1
        frames = out.size
        written = 0
        while written < frames:
            if self._current is None:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    # Waiting for the first block, or paused, is silence by design.
                    if self._playing and not self.status.paused:
                        self.status.underruns += 1
                    out[written:] = 0
                    return False
                if item is None:
                    out[written:] = 0
                    return True
                self._current, self._offset = item, 0
                self._playing = True
            start, block = self._current
            take = min(frames - written, block.size - self._offset)
            out[written : written + take] = block[self._offset : self._offset + take]
            self._offset += take
            written += take
            # Prelude blocks have negative starts: the session's clock has not begun.
            self.status.frame = start + self._offset if start >= 0 else -1
            if self._offset >= block.size:
                self._current = None
        return False

    def _on_finished(self) -> None:
        self.status.finished = True
