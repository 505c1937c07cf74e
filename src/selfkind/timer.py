"""A meditation timer as a :class:`Script`: silence and bells, nothing spoken.

Pure: options in, a Script out, so the timer is rendered, mixed and played live by exactly
the code that handles every practice. Bell times are exact to the sample: the pauses between
them are computed in frames (not summed in seconds, which would drift by rounding), and the
timeline places fixed pauses frame for frame.

Times are counted from the start of the audio: the timeline always opens with
:data:`~selfkind.timeline.LEAD_IN_S` of silence, then the warm-up, then the start bell.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import UsageError
from .script import Bell, FrontMatter, Item, Pause, Script, Section
from .timeline import BELL_EVENT_S, BELL_INTERVAL_S, LEAD_IN_S
from .units import format_duration

MIN_LENGTH_S = 60.0
MAX_LENGTH_S = 3 * 3600.0
MIN_INTERVAL_S = 10.0
"""Shorter intervals would have bells ringing over each other all the time."""
MAX_WARMUP_S = 10 * 60.0
BELL_KINDS = ("start", "interval", "end")
END_STRIKES = 3
"""The end is marked by three strikes, as practices close; start and interval bells by one."""


@dataclass(frozen=True)
class TimerOptions:
    length_s: float
    """The sitting itself, from the start bell to the end bell, in seconds."""
    interval_s: float | None = None
    """Time between interval bells, in seconds; None for no interval bells."""
    bells: tuple[str, ...] = BELL_KINDS
    """Which bells ring: any of ``start``, ``interval``, ``end``."""
    warmup_s: float = 10.0
    """Quiet before the start bell (after the lead-in), to settle, in seconds."""
    background: str = "none"
    """``none``, a built-in noise, or an audio file (as for a script's ``background:``)."""


@dataclass(frozen=True)
class PlannedBell:
    kind: str
    """``start``, ``interval`` or ``end``."""
    frame: int
    """Where the first strike begins, in frames from the start of the audio."""
    count: int

    def start_s(self, sample_rate_hz: int) -> float:
        return self.frame / sample_rate_hz


def check_timer(options: TimerOptions) -> None:
    """Raise :class:`UsageError`, naming the option, for a timer that cannot be made."""
    if not MIN_LENGTH_S <= options.length_s <= MAX_LENGTH_S:
        raise UsageError(
            "length",
            f"a timer lasts from {format_duration(MIN_LENGTH_S)} to"
            f" {format_duration(MAX_LENGTH_S)}, not {format_duration(options.length_s)}",
        )
    unknown = [b for b in options.bells if b not in BELL_KINDS]
    if unknown:
        raise UsageError(
            "--bells", f"unknown bell '{unknown[0]}' (choose from: {', '.join(BELL_KINDS)})"
        )
    if options.interval_s is not None:
        if options.interval_s < MIN_INTERVAL_S:
            raise UsageError(
                "--interval", f"intervals are {format_duration(MIN_INTERVAL_S)} or longer"
            )
        if options.interval_s >= options.length_s:
            raise UsageError("--interval", "the interval must be shorter than the timer")
    if not 0 <= options.warmup_s <= MAX_WARMUP_S:
        raise UsageError(
            "--warmup", f"the warm-up lasts from 0s to {format_duration(MAX_WARMUP_S)}"
        )


def _frames(seconds: float, sample_rate_hz: int) -> int:
    return round(seconds * sample_rate_hz)


def planned_bells(options: TimerOptions, sample_rate_hz: int) -> list[PlannedBell]:
    """Every bell the timer rings, in order, at its exact frame.

    An interval bell that would fall on the end, or ring so close before it that the two
    overlap (under :data:`BELL_EVENT_S`), is left out: the end bell marks that moment.
    """
    check_timer(options)
    sitting = _frames(LEAD_IN_S + options.warmup_s, sample_rate_hz)
    bells: list[PlannedBell] = []
    if "start" in options.bells:
        bells.append(PlannedBell("start", sitting, 1))
    if options.interval_s is not None and "interval" in options.bells:
        k = 1
        while options.length_s - k * options.interval_s >= BELL_EVENT_S:
            at = sitting + _frames(k * options.interval_s, sample_rate_hz)
            bells.append(PlannedBell("interval", at, 1))
            k += 1
    if "end" in options.bells:
        bells.append(
            PlannedBell("end", sitting + _frames(options.length_s, sample_rate_hz), END_STRIKES)
        )
    return bells


def timer_title(options: TimerOptions) -> str:
    every = f", bells every {format_duration(options.interval_s)}" if options.interval_s else ""
    return f"Timer: {format_duration(options.length_s)}{every}"


def timer_script(options: TimerOptions, sample_rate_hz: int) -> Script:
    """The timer as a script of sections, pauses and bells, exact at ``sample_rate_hz``.

    A section opens at each start or interval bell, so the guide's keys skip from bell to
    bell; the warm-up and the closing bell have sections of their own.
    """
    bells = planned_bells(options, sample_rate_hz)
    sitting = _frames(LEAD_IN_S + options.warmup_s, sample_rate_hz)
    end = sitting + _frames(options.length_s, sample_rate_hz)
    items: list[Item] = []
    cursor = _frames(LEAD_IN_S, sample_rate_hz)  # the timeline adds the lead-in itself

    def line() -> int:
        """Events need a source line to be told apart; a timer's items count from 1."""
        return len(items) + 1

    def pause_to(target: int) -> None:
        nonlocal cursor
        assert target >= cursor, "planned_bells keeps bells from overlapping"
        if target > cursor:
            seconds = (target - cursor) / sample_rate_hz
            items.append(Pause(seconds, seconds, line(), 1))
            cursor = target

    if sitting > cursor:
        items.append(Section("Settling", 1, line()))
        pause_to(sitting)
    part = 1
    if not any(bell.kind == "start" for bell in bells):
        items.append(Section("Sitting", 1, line()))
    for bell in bells:
        pause_to(bell.frame)
        if bell.kind == "end":
            title = "Closing"
        else:
            part += bell.kind == "interval"
            title = f"Sitting, part {part}" if bell.kind == "interval" else "Sitting"
        items.append(Section(title, 1, line()))
        items.append(Bell(bell.count, line(), 1))
        cursor += _frames(BELL_INTERVAL_S * (bell.count - 1) + BELL_EVENT_S, sample_rate_hz)
    if cursor < end:
        pause_to(end)
    front = FrontMatter(
        title=timer_title(options),
        background=options.background,
        description="Silence marked by bells.",
        tags=("timer",),
    )
    return Script(path="timer", front=front, items=tuple(items))
