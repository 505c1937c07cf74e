"""How a session sounds to a listener, measured on the audio: the pace of each voice.

For every voice profile, a paragraph like the built-in practices' is synthesized sentence by
sentence as a render would (rests at commas included), and an energy detector finds the
voiced time in each clip (selfkind.measure.voiced_s: the rests at commas are not speech).
Words per minute of voiced speech = words / voiced time; "wpm clips" counts the rests too.

Run: .venv/bin/python scripts/measure_listening.py [--pace 1.0]
"""

from __future__ import annotations

import argparse
import sys

from selfkind.cache import ClipCache
from selfkind.engines import unavailable_reason
from selfkind.measure import voiced_s
from selfkind.paths import clip_cache_dir
from selfkind.sentences import sentences
from selfkind.synth import SESSION_RATE_HZ, synthesize_script
from selfkind.voices import load_voice, voice_names

TEXT = (
    "Let yourself settle into a comfortable position, and let your eyes close if that feels"
    " right. Notice that you are breathing, without changing anything. This is a moment of"
    " kindness, just for you. Place a hand over your heart, and feel its warmth. Whatever you"
    " are carrying today, you do not have to carry it alone."
)


def measure(name: str, pace: float) -> tuple[float, float] | None:
    profile = load_voice(name).paced(pace)
    if unavailable_reason(profile):
        return None
    texts = sentences(TEXT)
    cache = ClipCache(clip_cache_dir())
    spoken = synthesize_script(texts, profile, cache)
    words = sum(len(t.split()) for t in texts)
    voiced = sum(voiced_s(cache.load(spoken.keys[t]), SESSION_RATE_HZ) for t in texts)
    total = sum(spoken.n_frames[t] for t in texts) / SESSION_RATE_HZ
    return words / voiced * 60, words / total * 60


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pace", type=float, default=1.0)
    args = parser.parse_args()
    print(f"{'voice':10} {'wpm voiced':>10} {'wpm clips':>10} {'breath s':>9} {'rest s':>7}")
    for name in voice_names():
        result = measure(name, args.pace)
        profile = load_voice(name).paced(args.pace)
        if result is None:
            print(f"{name:10} not installed")
            continue
        print(
            f"{name:10} {result[0]:10.0f} {result[1]:10.0f} {profile.breath_s:9.2f}"
            f" {profile.rest_s:7.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
