"""Script -> Timeline: every event placed on a sample-exact grid.

Pure and deterministic. Speech lengths come in as frame counts measured from the synthesized
clips, so this module never synthesizes; render, guide and batch all share what it builds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from .errors import ScriptError
from .script import Bell, Pause, Reflect, Script, Section, Speech
from .sentences import sentences
from .units import MAX_SESSION_S, format_duration

LEAD_IN_S = 1.5
"""Silence before the first sound, so the fade-in never touches a word."""
TAIL_S = 4.0
"""Silence after the last event, for bells to ring out and the fade to close."""
BELL_INTERVAL_S = 4.0
"""Time between strikes of ``[bell N]``."""
BELL_EVENT_S = 5.0
"""How long one strike holds the timeline; its ring continues, quieter, under what follows."""

EVENT_KINDS = ("section", "speech", "pause", "bell", "reflect")


@dataclass(frozen=True)
class Event:
    kind: str
    """One of EVENT_KINDS."""
    start_frame: int
    end_frame: int
    sample_rate_hz: int
    text: str = ""
    """What is spoken (speech), the heading (section), or the prompt (reflect)."""
    line: int = 0
    """Source line in the script, 0 for events the compiler adds (gaps, lead-in)."""
    count: int = 1
    """Number of strikes, for bells."""

    @property
    def start_s(self) -> float:
        return self.start_frame / self.sample_rate_hz

    @property
    def end_s(self) -> float:
        return self.end_frame / self.sample_rate_hz

    @property
    def n_frames(self) -> int:
        return self.end_frame - self.start_frame

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {
            "kind": self.kind,
            "start_s": round(self.start_s, 6),
            "end_s": round(self.end_s, 6),
            "text": self.text,
            "line": self.line,
        }
        if self.kind == "bell":
            out["count"] = self.count
        return out


@dataclass(frozen=True)
class Timeline:
    title: str
    sample_rate_hz: int
    """Sample rate every frame count refers to, in Hertz."""
    n_frames: int
    """Length of the whole session in frames."""
    events: tuple[Event, ...]
    """Sorted by start; sections overlap the events they contain."""
    target_duration_s: float | None = None

    @property
    def duration_s(self) -> float:
        return self.n_frames / self.sample_rate_hz

    def of_kind(self, kind: str) -> list[Event]:
        return [e for e in self.events if e.kind == kind]


def quiet_spans(timeline: Timeline, ring_s: float) -> list[tuple[int, int]]:
    """Frame ranges [start, end) in which neither the voice speaks nor a bell still rings
    (``ring_s``: how long a strike sounds), in order: where only silence or the ambience
    plays, so a file may be cut there and joined without a listener being able to tell."""
    rate = timeline.sample_rate_hz
    ring = round(ring_s * rate)
    interval = round(BELL_INTERVAL_S * rate)
    sounding = [(e.start_frame, e.end_frame) for e in timeline.of_kind("speech")]
    sounding += [
        (e.start_frame, e.start_frame + (e.count - 1) * interval + ring)
        for e in timeline.of_kind("bell")
    ]
    spans: list[tuple[int, int]] = []
    cursor = 0
    for start, end in sorted(sounding):
        if start > cursor:
            spans.append((cursor, start))
        cursor = max(cursor, end)
    if cursor < timeline.n_frames:
        spans.append((cursor, timeline.n_frames))
    return spans


def utterances(script: Script) -> list[str]:
    """Distinct sentences the script speaks (prompts included), in order of first use.

    Each sentence is one clip and one speech event: a breath goes between sentences, and a
    caption shows one sentence at a time.
    """
    seen: dict[str, None] = {}
    for item in script.items:
        if isinstance(item, Speech):
            for sentence in sentences(item.text):
                seen.setdefault(sentence, None)
        elif isinstance(item, Reflect) and item.prompt:
            for sentence in sentences(item.prompt):
                seen.setdefault(sentence, None)
    return list(seen)


@dataclass(frozen=True)
class _Slot:
    """A piece of the timeline before elastic pauses are fitted."""

    kind: str
    min_frames: int
    max_frames: int
    text: str = ""
    line: int = 0
    count: int = 1


def _slots(
    script: Script, speech_frames: Mapping[str, int], rate: int, gap_s: float, breath_s: float
) -> list[_Slot | Section]:
    """Lay the items out in order, adding the gap between utterances that follow directly
    and a breath between the sentences of one."""
    frames = lambda seconds: round(seconds * rate)  # noqa: E731

    def spoken(text: str, line: int) -> list[_Slot]:
        out: list[_Slot] = []
        for sentence in sentences(text):
            if out:
                out.append(_Slot("pause", frames(breath_s), frames(breath_s)))
            n = speech_frames[sentence]
            out.append(_Slot("speech", n, n, sentence, line))
        return out

    out: list[_Slot | Section] = [_Slot("pause", frames(LEAD_IN_S), frames(LEAD_IN_S))]
    previous_spoke = False
    for item in script.items:
        if isinstance(item, Section):
            out.append(item)
            continue
        speaks = isinstance(item, Speech) or (isinstance(item, Reflect) and bool(item.prompt))
        if speaks and previous_spoke:
            out.append(_Slot("pause", frames(gap_s), frames(gap_s)))
        if isinstance(item, Speech):
            out += spoken(item.text, item.line)
        elif isinstance(item, Pause):
            out.append(_Slot("pause", frames(item.min_s), frames(item.max_s), "", item.line))
        elif isinstance(item, Bell):
            n = frames(BELL_INTERVAL_S * (item.count - 1) + BELL_EVENT_S)
            out.append(_Slot("bell", n, n, "", item.line, item.count))
        elif isinstance(item, Reflect):
            if item.prompt:
                out += spoken(item.prompt, item.line)
            out.append(
                _Slot("reflect", frames(item.min_s), frames(item.max_s), item.prompt, item.line)
            )
        # A reflection ends in silence, so the next utterance needs no extra gap.
        previous_spoke = isinstance(item, Speech)
    out.append(_Slot("pause", frames(TAIL_S), frames(TAIL_S)))
    return out


def length_range_s(
    script: Script,
    speech_frames: Mapping[str, int],
    sample_rate_hz: int,
    gap_s: float,
    breath_s: float | None = None,
) -> tuple[float, float]:
    """Shortest and longest session this script can make with these speech lengths.

    ``breath_s`` (the silence between sentences) defaults to ``gap_s``.
    """
    breath = gap_s if breath_s is None else breath_s
    laid_out = _slots(script, speech_frames, sample_rate_hz, gap_s, breath)
    slots = [s for s in laid_out if isinstance(s, _Slot)]
    return (
        sum(s.min_frames for s in slots) / sample_rate_hz,
        sum(s.max_frames for s in slots) / sample_rate_hz,
    )


def _fit(slots: list[_Slot], target_frames: int | None) -> list[int]:
    """Choose every slot's length so the total hits the target exactly.

    All elastic pauses move by the same fraction of their range, which keeps the script's
    shape (a long reflective pause stays long), and leftover frames from rounding go to the
    pauses with the largest remainders so the sum is exact to the sample.
    """
    lows = [s.min_frames for s in slots]
    spans = [s.max_frames - s.min_frames for s in slots]
    total_span = sum(spans)
    if target_frames is None:
        fraction = 0.5
        wanted = sum(lows) + round(total_span * fraction)
    else:
        wanted = target_frames
        fraction = 0.0 if total_span == 0 else (wanted - sum(lows)) / total_span
    exact = [low + span * fraction for low, span in zip(lows, spans, strict=True)]
    chosen = [int(x) for x in exact]
    leftover = wanted - sum(chosen)
    by_remainder = sorted(
        (i for i, span in enumerate(spans) if span),
        key=lambda i: (chosen[i] - exact[i], i),
    )
    for i in by_remainder[: max(leftover, 0)]:
        chosen[i] += 1
    return chosen


def compile_timeline(
    script: Script,
    speech_frames: Mapping[str, int],
    sample_rate_hz: int,
    gap_s: float = 0.8,
    target_duration_s: float | None = None,
    target_from: str | None = None,
    breath_s: float | None = None,
) -> Timeline:
    """Place every event. ``speech_frames`` maps each utterance text to its clip length.

    With a target, elastic pauses are fitted so the session is exactly that long (to the
    sample); when no fit exists the error says the shortest and longest possible lengths.
    It points at the script's ``duration:`` line, or at ``target_from`` (say, an option)
    when the target came from there. ``speech_frames`` is keyed by sentence (see
    :func:`utterances`); ``breath_s``, the silence between sentences, defaults to ``gap_s``.
    """
    breath = gap_s if breath_s is None else breath_s
    laid_out = _slots(script, speech_frames, sample_rate_hz, gap_s, breath)
    slots = [s for s in laid_out if isinstance(s, _Slot)]
    target_frames = None
    if target_duration_s is not None:
        target_frames = round(target_duration_s * sample_rate_hz)
        low_s, high_s = length_range_s(script, speech_frames, sample_rate_hz, gap_s, breath)
        if not round(low_s * sample_rate_hz) <= target_frames <= round(high_s * sample_rate_hz):
            line, col = script.location("duration") if target_from is None else (0, 0)
            raise ScriptError(
                target_from or script.path,
                line,
                col,
                f"this script can last from {format_duration(low_s)} to "
                f"{format_duration(high_s)} with this voice, not "
                f"{format_duration(target_duration_s)}; choose a length in that range",
            )
    lengths = iter(_fit(slots, target_frames))

    events: list[Event] = []
    sections: list[tuple[int, Section]] = []
    cursor = 0
    limit_frames = round(MAX_SESSION_S * sample_rate_hz)
    for slot in laid_out:
        if isinstance(slot, Section):
            sections.append((cursor, slot))
            continue
        n = next(lengths)
        if cursor <= limit_frames < cursor + n:
            raise ScriptError(
                script.path,
                slot.line,
                0,
                f"the session passes {format_duration(MAX_SESSION_S)}, the longest selfkind"
                " makes, here; shorten the script or its pauses",
            )
        if slot.kind != "pause" or slot.line:
            events.append(
                Event(
                    slot.kind,
                    cursor,
                    cursor + n,
                    sample_rate_hz,
                    slot.text,
                    slot.line,
                    slot.count,
                )
            )
        cursor += n
    for index, (start, section) in enumerate(sections):
        end = sections[index + 1][0] if index + 1 < len(sections) else cursor
        events.append(Event("section", start, end, sample_rate_hz, section.title, section.line))
    # Sections sort before the events they open; otherwise by start.
    order = {kind: i for i, kind in enumerate(EVENT_KINDS)}
    events.sort(key=lambda e: (e.start_frame, order[e.kind]))
    return Timeline(
        title=script.title,
        sample_rate_hz=sample_rate_hz,
        n_frames=cursor,
        events=tuple(events),
        target_duration_s=target_duration_s,
    )
