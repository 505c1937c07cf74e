"""What a session says and when: WebVTT captions and the JSON timeline manifest."""

from __future__ import annotations

import json
import textwrap
from dataclasses import dataclass

from .sentences import phrases
from .timeline import BELL_INTERVAL_S, Timeline

MANIFEST_VERSION = 1
LINE_CHARS = 42
"""Longest caption line: what fits a phone held upright, as subtitle guides advise."""
MAX_LINES = 2
BELL_CUE_S = 3.0
"""How long a ``[bell]`` cue stays up after the last strike."""


@dataclass(frozen=True)
class Cue:
    start_s: float
    end_s: float
    lines: tuple[str, ...]
    """At most MAX_LINES of at most LINE_CHARS each."""

    @property
    def text(self) -> str:
        return " ".join(self.lines)


def _wrapped(text: str) -> list[str]:
    return textwrap.wrap(text, LINE_CHARS, break_on_hyphens=False) or [""]


def _fits(text: str) -> bool:
    return len(_wrapped(text)) <= MAX_LINES


def caption_chunks(text: str) -> list[str]:
    """A sentence in pieces that each fit a caption: whole if it fits, else split at its
    commas (and colons, semicolons, ellipses), and only a phrase too long by itself between
    words."""
    if _fits(text):
        return [text]
    pieces: list[str] = []
    for phrase in phrases(text) or [text]:
        if _fits(phrase):
            pieces.append(phrase)
            continue
        lines = _wrapped(phrase)
        pieces += [" ".join(lines[i : i + MAX_LINES]) for i in range(0, len(lines), MAX_LINES)]
    chunks: list[str] = []
    for piece in pieces:
        if chunks and _fits(f"{chunks[-1]} {piece}"):
            chunks[-1] = f"{chunks[-1]} {piece}"
        else:
            chunks.append(piece)
    return chunks


def _timed(text: str, start_s: float, end_s: float) -> list[Cue]:
    """Cues for one text over [start_s, end_s); a split text shares the time by its length."""
    chunks = caption_chunks(text)
    total = sum(len(c) for c in chunks)
    cues, at = [], start_s
    for chunk in chunks:
        until = at + (end_s - start_s) * len(chunk) / total
        cues.append(Cue(at, until, tuple(_wrapped(chunk))))
        at = until
    return cues


def cues(timeline: Timeline) -> list[Cue]:
    """Every caption of a session, in time order: one per sentence spoken (split when too
    long for two lines), one per bell, and one per reflection showing its prompt."""
    out: list[Cue] = []
    for event in timeline.events:
        if event.kind == "speech":
            out += _timed(event.text, event.start_s, event.end_s)
        elif event.kind == "bell":
            end_s = event.start_s + BELL_INTERVAL_S * (event.count - 1) + BELL_CUE_S
            out.append(Cue(event.start_s, min(end_s, event.end_s), ("[bell]",)))
        elif event.kind == "reflect":
            prompt = event.text or "a moment to reflect"
            out += _timed(f"[reflect] {prompt}", event.start_s, event.end_s)
    return sorted(out, key=lambda cue: cue.start_s)


def vtt_time(seconds: float) -> str:
    total_ms = round(seconds * 1000)
    hours, rest = divmod(total_ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, ms = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}.{ms:03d}"


def webvtt(timeline: Timeline) -> str:
    """The session's :func:`cues`, each from where it starts to where it ends in the audio."""
    lines = ["WEBVTT", f"NOTE {timeline.title.replace('-->', '->')}", ""]
    for number, cue in enumerate(cues(timeline), start=1):
        # A cue's text may not contain a blank line or "-->"; utterances never hold newlines.
        text = [line.replace("-->", "->") for line in cue.lines]
        lines += [str(number), f"{vtt_time(cue.start_s)} --> {vtt_time(cue.end_s)}", *text, ""]
    return "\n".join(lines)


def manifest(timeline: Timeline, extra: dict[str, object]) -> str:
    """The timeline as JSON: every event with kind, start_s, end_s, text and source line."""
    document: dict[str, object] = {
        "manifest_version": MANIFEST_VERSION,
        "title": timeline.title,
        "duration_s": round(timeline.duration_s, 6),
        "sample_rate_hz": timeline.sample_rate_hz,
        "target_duration_s": timeline.target_duration_s,
        **extra,
        "events": [event.to_dict() for event in timeline.events],
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
