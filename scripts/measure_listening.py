"""How sessions sound to a listener, measured on rendered files decoded with ffmpeg.

1. Pace, per voice profile: a paragraph like the built-in practices' is rendered; in each
   sentence's span an energy detector finds the voiced time (selfkind.measure.voiced_s: the
   rests at commas are not speech). Words per minute of voiced speech = words / voiced time.
   The breaths between sentences are the silences heard between them.
2. Bells: ffmpeg's EBU R128 meter, the loudest short-term (3 s) loudness while the voice
   speaks and just after a bell.
3. Integrated loudness (ffmpeg) of every built-in practice at 5, 10 and 20 minutes.

Run: .venv/bin/python scripts/measure_listening.py [--pace 1.0] [--voice NAME] [--skip-practices]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from selfkind.engines import unavailable_reason
from selfkind.errors import ScriptError
from selfkind.measure import loudness_trace, quiet_spans_s, voiced_s
from selfkind.practices import practice_names
from selfkind.render import render_file
from selfkind.synth import SESSION_RATE_HZ
from selfkind.voices import load_voice, voice_names

TEXT = (
    "Let yourself settle into a comfortable position, and let your eyes close if that feels"
    " right. Notice that you are breathing, without changing anything. This is a moment of"
    " kindness, just for you. Place a hand over your heart, and feel its warmth. Whatever you"
    " are carrying today, you do not have to carry it alone."
)
BELLED = f"{TEXT}\n[pause 4s]\n[bell]\n[pause 10s]\n{TEXT}\n"


def _decode(path: Path) -> np.ndarray:
    raw = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-ac", "1", "-f", "f32le", "-"],
        capture_output=True,
        check=True,
    ).stdout
    return np.frombuffer(raw, dtype="<f4")


def _render(folder: Path, name: str, body: str, voice: str, pace: float) -> tuple[dict, Path]:
    script = folder / f"{name}.md"
    script.write_text(f"---\ntitle: {name}\nbackground: none\n---\n{body}", encoding="utf-8")
    audio = folder / f"{name}.wav"
    render_file(str(script), audio, "wav", voice_name=voice, pace=pace, jobs=2)
    return json.loads(audio.with_suffix(".json").read_text(encoding="utf-8")), audio


def pace_and_bell(folder: Path, voice: str, pace: float) -> list[str]:
    manifest, audio = _render(folder, f"pace-{voice}", TEXT, voice, pace)
    samples = _decode(audio)
    speech = [e for e in manifest["events"] if e["kind"] == "speech"]

    def span(event: dict) -> np.ndarray:
        return samples[
            round(event["start_s"] * SESSION_RATE_HZ) : round(event["end_s"] * SESSION_RATE_HZ)
        ]

    words = sum(len(e["text"].split()) for e in speech)
    wpm = words / sum(voiced_s(span(e), SESSION_RATE_HZ) for e in speech) * 60
    gaps = []
    for before, after in zip(speech, speech[1:], strict=False):
        between = samples[
            round(before["end_s"] * SESSION_RATE_HZ) - 441 : round(
                after["start_s"] * SESSION_RATE_HZ
            )
            + 441
        ]
        gaps.append(
            max((b - a for a, b in quiet_spans_s(between, SESSION_RATE_HZ, 0.3)), default=0)
        )
    rests = [b - a for e in speech for a, b in quiet_spans_s(span(e), SESSION_RATE_HZ, 0.2)]
    manifest, audio = _render(folder, f"bell-{voice}", BELLED, voice, pace)
    trace = loudness_trace(audio)
    spoken = [(e["start_s"], e["end_s"]) for e in manifest["events"] if e["kind"] == "speech"]
    (bell,) = [e["start_s"] for e in manifest["events"] if e["kind"] == "bell"]
    voice_st = trace.loudest_short_term(spoken)
    bell_st = trace.loudest_short_term([(bell, bell + 3.5)])
    return [
        f"{wpm:.0f}",
        f"{min(gaps):.2f}-{max(gaps):.2f}",
        f"{statistics.median(rests):.2f}" if rests else "-",
        f"{voice_st:.1f}",
        f"{bell_st:.1f}",
        f"{voice_st - bell_st:.1f}",
    ]


def practice_loudness(folder: Path, voice: str | None, pace: float) -> None:
    print(f"\n| practice | 5 min | 10 min | 20 min |  (voice: {voice or 'this machine default'})")
    print("|---|---|---|---|")
    for name in practice_names():
        cells = []
        for minutes in (5, 10, 20):
            audio = folder / f"{name}-{minutes}.wav"
            try:
                render_file(name, audio, "wav", voice, minutes * 60, jobs=2, pace=pace)
            except ScriptError:
                cells.append("does not fit")
                continue
            cells.append(f"{loudness_trace(audio).integrated_lufs:.1f}")
            audio.unlink()
        print(f"| {name} | {' | '.join(cells)} |", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pace", type=float, default=1.0)
    parser.add_argument("--voice", help="practices in this voice (default: each script's)")
    parser.add_argument("--skip-practices", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temp:
        folder = Path(temp)
        print(
            "| voice | wpm voiced | breath between sentences, s | rest at commas, s (median)"
            " | voice loudest short-term, LUFS | bell loudest short-term, LUFS"
            " | bell under voice, LU |"
        )
        print("|---|---|---|---|---|---|---|")
        for name in voice_names():
            if unavailable_reason(load_voice(name)):
                print(f"| {name} | not installed |")
                continue
            print(f"| {name} | {' | '.join(pace_and_bell(folder, name, args.pace))} |", flush=True)
        if not args.skip_practices:
            practice_loudness(folder, args.voice, args.pace)
    return 0


if __name__ == "__main__":
    sys.exit(main())
