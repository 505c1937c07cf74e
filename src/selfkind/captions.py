"""What a session says and when: WebVTT captions and the JSON timeline manifest."""

from __future__ import annotations

import json

from .timeline import Timeline

MANIFEST_VERSION = 1


def vtt_time(seconds: float) -> str:
    total_ms = round(seconds * 1000)
    hours, rest = divmod(total_ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, ms = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}.{ms:03d}"


def webvtt(timeline: Timeline) -> str:
    """One cue per spoken utterance, from where it starts to where it ends in the audio."""
    lines = ["WEBVTT", f"NOTE {timeline.title.replace('-->', '->')}", ""]
    for number, event in enumerate(timeline.of_kind("speech"), start=1):
        # A cue's text may not contain a blank line or "-->"; utterances never hold newlines.
        text = event.text.replace("-->", "->")
        lines += [str(number), f"{vtt_time(event.start_s)} --> {vtt_time(event.end_s)}", text, ""]
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
