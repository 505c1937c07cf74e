"""Live guidance: a session played through the sound card as it is mixed.

Three threads share the work. A producer renders the timeline a tenth of a second at a time
(mix, then master) into a short queue; the PortAudio callback only copies queued samples to
the device, so no mixing happens on the audio thread; the caller's thread shows where the
session is, turns keys into commands and watches that the device keeps taking audio.
Commands (pause, skip, back, quit) drop what is queued and continue from what was last
heard, with short fades so nothing clicks.

Two traps, each met once:

- The limiter looks ahead, so its output lags its input by about 9 ms, and it remembers the
  audio before that. Carried across a splice (pause, resume, skip), that memory is heard as
  9 ms of the old place glued to the new one: a click. Every splice therefore starts a
  fresh mastering stream whose memory is filled from the session at the splice itself
  (:class:`_Mastered`), so frame N sounds exactly as a render of the whole session does.
- A sound server that is suspended (``pactl suspend-sink``, pasuspender, JACK taking the
  card) stops calling back without any error, and PortAudio's stop then waits for it for
  ever. :meth:`Player.wait` notices the callbacks stopping; the Speaker aborts instead of
  stopping, which returns at once.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..devices import Speaker
from ..errors import DeviceLost
from ..levels import CLIP_LUFS, LOSSLESS_CEILING_DBTP, TARGET_LUFS
from ..master import HOLD_S, LOOKAHEAD_S, Master
from ..mix import SessionMix, session_gain_db
from ..sounds import BELL_RING_S, bell_strike, leveled, listen_cue
from ..timeline import Event, Timeline

BLOCK_S = 0.1
"""Samples rendered ahead per step; with QUEUE_BLOCKS, how far ahead the producer runs."""
QUEUE_BLOCKS = 4
CUE_GAP_S = 0.5
"""Quiet between a reflection's closing cue and the words that follow it."""
DEVICE_LATENCY_S = 0.25
"""Audio the sound device holds. PortAudio's "low" (~9 ms here) stutters under load, and
so did 0.1 s: on a busy machine (load 6.7 on two cores, two busy loops beside) the guide
fell behind in 2 of 4 plays, and each underrun cost PulseAudio ~1.85 s of silence; at
0.25 s, 0 of 4. The price: a key's fade is heard up to 0.15 s later than before."""
FADE_S = 0.25
"""Fade for pause, resume and skips."""
QUIT_FADE_S = 1.2
"""A gentle close: never an abrupt cut, and over within the 2 s a person waits for Ctrl-C."""
QUIT_GRACE_S = 0.4
"""After quitting, how long past the fade and the device's own buffer the device may take
before it is closed anyway (closing earlier cuts the fade's tail: a click)."""
BACK_GRACE_S = 3.0
"""Back within this long after a section starts goes to the one before it."""
STALL_S = 1.2
"""The device has stalled when it asks for no audio for this long while the display thread
keeps running. Callbacks come every 25 ms (gaps of 80 ms at most were measured on a busy
machine); a suspended PulseAudio sink stops them without any error."""
START_S = 3.0
"""How long a device may pause while it settles: PulseAudio's ALSA plugin takes the first
blocks at once, then waits 0.9 to 1.8 s before taking more, and does the same again after
each underrun (measured: 1.85 s)."""
QUIT_STALL_S = 0.5
"""Once quitting, a device that stops taking audio for this long is not waited for."""
STEADY_TICKS = 8
"""Display ticks in a row with audio taken before the device counts as settled."""


@dataclass
class Status:
    """What the listener hears now; read by the display, written by the audio callback."""

    frame: int = 0
    paused: bool = False
    """As asked (set by :meth:`Player.command`); the fade follows within a block."""
    finished: bool = False
    underruns: int = 0


@dataclass(frozen=True)
class _Block:
    start: int
    """Session frame of the first sample; negative for the opening (prelude)."""
    samples: np.ndarray
    quiet_after: bool = False
    """Silence after this block is by design (the opening, a pause, the end), not a
    device that fell behind."""


class _Blocks:
    """The blocks rendered ahead, shared by the producer and the audio callback.

    Unlike queue.Queue, a splice can drop what is queued while keeping the next block under
    one lock, so the callback never finds the queue empty half-way through a change."""

    def __init__(self, max_blocks: int) -> None:
        self._items: collections.deque[_Block | None] = collections.deque()
        self._max = max_blocks
        self._changed = threading.Condition()

    def put(self, item: _Block | None, timeout_s: float) -> bool:
        with self._changed:
            if len(self._items) >= self._max:
                self._changed.wait(timeout_s)
                if len(self._items) >= self._max:
                    return False
            self._items.append(item)
            return True

    def empty(self) -> bool:
        with self._changed:
            return not self._items

    def take(self) -> tuple[bool, _Block | None]:
        """(False, None) when nothing is queued; (True, None) is the end of the session."""
        with self._changed:
            if not self._items:
                return False, None
            item = self._items.popleft()
            self._changed.notify()
            return True, item

    def keep_next(self) -> int | None:
        """Drop what is queued but the opening and the next session block; returns the
        frame after that block (None when no session block was queued)."""
        with self._changed:
            kept: list[_Block | None] = []
            end = None
            for item in self._items:
                if item is not None and item.start < 0:
                    kept.append(item)
                elif item is not None and end is None:
                    kept.append(item)
                    end = item.start + item.samples.size
            self._items = collections.deque(kept)
            self._changed.notify()
            return end


class _Mastered:
    """The session mastered from any frame on, fading in from there if asked.

    The limiter's look-ahead and memory are filled from the session around ``start_frame``,
    so frame N comes out exactly as a render of the whole session has it, wherever playback
    jumped from. What :meth:`read` returns starts at ``start_frame``, block after block."""

    def __init__(
        self,
        source: Callable[[int, int, int, int], np.ndarray],
        sample_rate_hz: int,
        start_frame: int,
        gain_db: float,
        fade: tuple[int, int] = (0, 0),
    ) -> None:
        self._source = source
        self.fade = fade
        """(frame, frames): silence before the frame, rising to full over the frames."""
        self.master = Master(sample_rate_hz, gain_db, LOSSLESS_CEILING_DBTP)
        lead = self.master.limiter.latency_frames
        memory = round((LOOKAHEAD_S + HOLD_S) * sample_rate_hz) + lead
        self.master.process(self._input(start_frame - memory, start_frame + lead))
        self._next_input = start_frame + lead

    def _input(self, start: int, stop: int) -> np.ndarray:
        return self._source(start, stop, *self.fade)

    def read(self, n_frames: int) -> np.ndarray:
        block = self._input(self._next_input, self._next_input + n_frames)
        self._next_input += n_frames
        return self.master.process(block)


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
        """Set once the session is prepared (speech synthesized, timeline compiled, its
        master gain measured)."""
        self.gain_db = TARGET_LUFS - CLIP_LUFS
        """Master gain: the plan's until the session is ready, then the one its file gets."""
        self.rate = sample_rate_hz
        self.device = device
        self.status = Status()
        self._block = round(BLOCK_S * self.rate)
        self._queue = _Blocks(QUEUE_BLOCKS)
        self._commands: collections.deque[tuple[str, int]] = collections.deque()
        self._current: _Block | None = None
        self._offset = 0
        self._counting = False
        """Whether running dry now would be an underrun (the block playing expects more)."""
        self._ended = False
        """The callback has played the end of the session (not a device that went away)."""
        self._tail_frames = 0
        """Silence played since the end, so the device holds none of the session at the stop."""
        self._stop = threading.Event()
        self._quit_requested = threading.Event()
        self._quit_deadline: float | None = None
        self._stream: Speaker | None = None
        self._watch = _DeviceWatch(None)
        self._producer: threading.Thread | None = None
        self._prelude = self._make_prelude(prelude_s)
        self._cue_marks: list[tuple[int, np.ndarray]] = []
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
        self._watch = _DeviceWatch(self._stream)

    def command(self, name: str, argument: int = 0) -> None:
        """Queued for the mixer, which acts on it at its next block. A pause or a resume
        shows in :attr:`status` at once: the screen (and the next key) sees what was asked,
        not the mixer a block behind, which showed "paused" for a moment after typing."""
        if name in ("pause", "resume"):
            self.status.paused = name == "pause"
        self._commands.append((name, argument))

    def toggle_pause(self) -> None:
        self.command("resume" if self.status.paused else "pause")

    def skip(self, direction: int) -> None:
        if self.timeline is not None and self.status.frame >= 0:
            self.command("seek", self._section_target(direction))

    def quit(self) -> None:
        self._quit_requested.set()
        self._quit_deadline = time.monotonic() + QUIT_FADE_S + DEVICE_LATENCY_S + QUIT_GRACE_S
        self.command("quit")

    def wait(
        self,
        on_tick: Callable[[], None] | None = None,
        tick_s: float = 0.2,
        timeout_s: float | None = None,
    ) -> None:
        """Block until the session ends (or is quit), calling ``on_tick`` as it plays.

        With ``timeout_s`` it closes the stream when the time is up, finished or not, and
        after :meth:`quit` it waits at most the fade, the device's buffer and QUIT_GRACE_S
        (1.85 s): stopping must never hang. A device that stops taking audio (suspended, or
        gone) ends the wait with :attr:`error` set. A KeyboardInterrupt leaves the stream
        open, so that the caller can quit gently.
        """
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while not self.status.finished and self.error is None:
            now = time.monotonic()
            if (deadline is not None and now > deadline) or (
                self._quit_deadline is not None and now > self._quit_deadline
            ):
                break
            if on_tick:
                on_tick()
            time.sleep(tick_s)
            problem = self._watch.check(self._quit_requested.is_set())
            if problem and self._ended:
                self.status.finished = True  # the end was played; only the drain is stuck
            elif problem and not self._quit_requested.is_set():
                self.error = DeviceLost(
                    f"the sound device {problem} at {self.position_s:.0f}s{_WHY[problem]};"
                    " run the same command again to start afresh"
                )
            elif problem:
                break  # quitting anyway: no need to wait for the fade
        if on_tick:
            on_tick()
        self.close()

    def close(self) -> None:
        """Stop producing and close the device at once; safe to call more than once."""
        self._stop.set()
        stream, self._stream = self._stream, None
        if stream is not None:
            stream.close()

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
        # Measured as a render measures it, before the first sample of the session plays
        # (while the opening sounds): live and from a file, it is equally loud.
        try:
            gain_db = session_gain_db(mix)
        except BaseException as err:  # noqa: BLE001 - shown by the caller
            self.error = err
            self.ready.set()
            return
        # The cues keep their planned level, as the bells do (see SessionMix.set_bell_offset).
        offset = np.float32(10 ** ((self.gain_db - gain_db) / 20))
        self._cue_sounds = {opening: cue * offset for opening, cue in self._cue_sounds.items()}
        self.gain_db = gain_db
        self.mix, self.timeline = mix, mix.timeline
        self.ready.set()

    def _run_producer(self) -> None:
        gain = np.float32(10 ** ((TARGET_LUFS - CLIP_LUFS) / 20))
        preparing = threading.Thread(target=self._get_ready, name="prepare", daemon=True)
        if self._prelude.size == 0:
            preparing.start()
        for index, start in enumerate(range(0, self._prelude.size, self._block)):
            if self._stop.is_set() or self._quit_requested.is_set():
                self._put_end()
                return
            # The opening is quiet after it by design, until the session is ready.
            self._put(-1 - start, self._prelude[start : start + self._block] * gain, True)
            # Synthesis competes for the interpreter; let the bell reach the device first.
            if index == QUEUE_BLOCKS:
                preparing.start()
        if not preparing.is_alive() and not self.ready.is_set():
            preparing.start()
        while not self.ready.wait(0.05):
            if self._stop.is_set() or self._quit_requested.is_set():
                self._put_end()
                return
        if self.mix is None or self.timeline is None:
            self._put_end()
            return
        self._cue_marks = self._find_cue_marks(self.timeline)
        self._play(self.timeline.n_frames)

    def _play(self, n_frames: int) -> None:
        """Render the session into the queue, obeying commands, until its end or a quit."""
        fade_frames = round(FADE_S * self.rate)
        position = 0
        """The frame after the last one queued."""
        fade = (0, 0)
        """The fade-in of the stream playing, which a fade-out from it must share."""
        stream: _Mastered | None = _Mastered(self._session, self.rate, 0, self.gain_db, fade)
        paused = False
        while not self._stop.is_set():
            name, argument = self._commands.popleft() if self._commands else ("", 0)
            changes = name == "seek" or name == "quit" or name == ("resume" if paused else "pause")
            if changes:
                # Continue after the block about to be heard, so the device never runs dry.
                splice = self._queue.keep_next()
                position = position if splice is None or paused else splice
                if name == "pause":
                    self._fade_out(position, FADE_S, fade)
                    # Resume where the fade ended, as the display has it while paused.
                    position = min(position + fade_frames, n_frames)
                    paused, stream = True, None
                elif name == "resume":
                    paused = False
                    fade = (position, fade_frames)
                    stream = _Mastered(self._session, self.rate, position, self.gain_db, fade)
                elif name == "seek":
                    if not paused:
                        self._fade_out(position, FADE_S, fade, quiet_after=False)
                    position = min(max(argument, 0), n_frames)
                    if not paused:
                        fade = (position, fade_frames)
                        stream = _Mastered(self._session, self.rate, position, self.gain_db, fade)
                else:  # quit
                    if not paused:
                        self._fade_out(position, QUIT_FADE_S, fade)
                    self._put_end()
                    return
            if position >= n_frames:
                self._put_end()
                return
            if paused or stream is None:
                if self._current is None and self._queue.empty():
                    self.status.frame = position  # the fade is over: show where resume goes
                time.sleep(0.02)
                continue
            n = min(self._block, n_frames - position)
            self._put(position, stream.read(n))
            position += n

    def _session(self, start: int, stop: int, fade_from: int, fade_frames: int) -> np.ndarray:
        """Frames [start, stop) of the session before mastering: silence outside it, and
        silence before ``fade_from`` rising to full over ``fade_frames`` after it. The
        listening cues are added after the fade, so a closing cue right after a seek (the
        speaker finished early) stays whole."""
        assert self.mix is not None
        out = np.zeros(max(stop - start, 0), dtype=np.float32)
        lo, hi = max(start, 0), min(stop, self.mix.n_frames)
        if hi > lo:
            out[lo - start : hi - start] = self.mix.render(lo, hi)
        if fade_frames:
            ramp = np.clip((np.arange(start, stop) - fade_from) / fade_frames, 0.0, 1.0)
            out *= (np.sin(ramp * np.pi / 2) ** 2).astype(np.float32)
        return self._with_cues(out, start)

    def _fade_out(
        self, frame: int, fade_s: float, fade_in: tuple[int, int], quiet_after: bool = True
    ) -> None:
        """Queue the session from ``frame`` fading to silence over ``fade_s``; ``fade_in``
        is that of the stream it continues (a pause right after a resume)."""
        assert self.mix is not None
        n = min(round(fade_s * self.rate), max(self.mix.n_frames - frame, 0))
        if n == 0:
            return
        block = _Mastered(self._session, self.rate, frame, self.gain_db, fade_in).read(n)
        ramp = np.cos(np.linspace(0, np.pi / 2, n)) ** 2
        self._put(frame, (block * ramp).astype(np.float32), quiet_after)

    def closing_frame(self, event: Event) -> int:
        """Where a reflection step's closing cue starts: so that it has finished, with a
        breath to spare, before the next words."""
        n = self._cue_sounds[False].size + round(CUE_GAP_S * self.rate)
        return max(event.start_frame + self._cue_sounds[True].size, event.end_frame - n)

    def _find_cue_marks(self, timeline: Timeline) -> list[tuple[int, np.ndarray]]:
        """Where each cue starts in the session, and which cue: found once per session."""
        marks = []
        for event in timeline.of_kind("reflect"):
            marks.append((event.start_frame, self._cue_sounds[True]))
            marks.append((self.closing_frame(event), self._cue_sounds[False]))
        return marks

    def _with_cues(self, block: np.ndarray, start: int) -> np.ndarray:
        """Mix in the cues that fall in this block. Placed by frame, so they are exact,
        and a seek to a step's end (the speaker finished early) still sounds its cue."""
        if not self.listening_cues:
            return block
        stop = start + block.size
        for frame, cue in self._cue_marks:
            lo, hi = max(frame, start), min(frame + cue.size, stop)
            if lo < hi:
                block[lo - start : hi - start] += cue[lo - frame : hi - frame]
        return block

    def _put_end(self) -> None:
        """Tell the audio thread the session is over (without blocking forever on it)."""
        while not self._stop.is_set():
            if self._queue.put(None, 0.1):
                return

    def _put(self, start: int, samples: np.ndarray, quiet_after: bool = False) -> None:
        block = _Block(start, samples, quiet_after)
        while not self._stop.is_set():
            if self._queue.put(block, 0.1):
                return

    # -- the audio thread -----------------------------------------------------------------------

    def _fill(self, out: np.ndarray, underflow: bool) -> bool:
        """The Speaker's callback: copy queued samples into ``out``; True at the end."""
        if underflow and self._counting:
            self.status.underruns += 1
        frames = out.size
        if self._ended:  # silence until the device holds nothing else (see below)
            out[:] = 0
            self._tail_frames += frames
            return self._tail_frames >= DEVICE_LATENCY_S * self.rate
        written = 0
        while written < frames:
            if self._current is None:
                found, item = self._queue.take()
                if not found:
                    # The opening, a pause or a session not yet ready is silence by design.
                    if self._counting:
                        self.status.underruns += 1
                    out[written:] = 0
                    return False
                if item is None:
                    # The end. Stopping here let the stream close on what the device still
                    # held, the last of a quit's fade (a click): first a buffer of silence.
                    out[written:] = 0
                    self._ended = True
                    self._tail_frames = frames - written
                    return self._tail_frames >= DEVICE_LATENCY_S * self.rate
                self._current, self._offset = item, 0
                self._counting = not item.quiet_after
            block = self._current
            take = min(frames - written, block.samples.size - self._offset)
            out[written : written + take] = block.samples[self._offset : self._offset + take]
            self._offset += take
            written += take
            # Opening blocks have negative starts: the session's clock has not begun.
            self.status.frame = block.start + self._offset if block.start >= 0 else -1
            if self._offset >= block.samples.size:
                self._current = None
        return False

    def _on_finished(self) -> None:
        """PortAudio's word that the stream is over: after the end was played, after a
        close, or because the device went away (the sound server stopped, a card was
        unplugged) - and only the last is an error."""
        if self._ended or self._stop.is_set():
            self.status.finished = True
        elif self.error is None:
            self.error = DeviceLost(
                f"the sound device went away at {self.position_s:.0f}s (did the sound server"
                " stop?); run the same command again to start afresh"
            )


_WHY = {
    "stopped": "",
    "stopped taking audio": " (is it suspended, or taken by another program such as JACK?)",
}


class _DeviceWatch:
    """Notices a device that stops asking for audio, from the thread that shows progress.

    Counting the callbacks seen between this thread's own ticks tells a stalled device from
    a busy interpreter: if this thread ran several times and the callback did not, the
    device is the one that stopped. A device that is starting, or restarting after running
    dry, is given START_S; one that has been taking audio steadily, STALL_S."""

    def __init__(self, speaker: Speaker | None) -> None:
        self._speaker = speaker
        self._seen = speaker.callbacks if speaker else 0
        self._underflows = speaker.underflows if speaker else 0
        self._since = time.monotonic()
        """When audio was last taken (or the watch began)."""
        self._quiet_ticks = 0
        self._busy_ticks = 0

    def check(self, quitting: bool = False) -> str:
        """'' while all is well; else what happened, as words (a key of _WHY)."""
        speaker = self._speaker
        if speaker is None:
            return ""
        now = time.monotonic()
        if speaker.callbacks != self._seen:
            self._seen, self._quiet_ticks = speaker.callbacks, 0
            self._since = speaker.last_callback_s
            self._busy_ticks += 1
            if speaker.underflows != self._underflows:
                self._underflows, self._busy_ticks = speaker.underflows, 0  # settles again
            return ""
        self._quiet_ticks += 1
        if self._busy_ticks < STEADY_TICKS:
            self._busy_ticks = 0
        if not speaker.active and now - self._since > STALL_S:
            return "stopped"
        settled = self._busy_ticks >= STEADY_TICKS
        limit = STALL_S if settled else START_S
        if quitting and settled:
            limit = QUIT_STALL_S  # a starting device may yet play the fade: let it
        if now - self._since > limit and self._quiet_ticks >= 2:
            return "stopped taking audio"
        return ""
