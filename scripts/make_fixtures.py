#!/usr/bin/env python3
"""Make audio_fixtures/: short spoken reflections with their true text, plus silence and
room noise, spoken by the project's own natural voice (Piper). Run by hand; the files are
committed so the tests do not depend on synthesis."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from selfkind.engines import open_engine
from selfkind.render import write_audio
from selfkind.sounds import noise_loop
from selfkind.voices import load_voice

REFLECTIONS = [
    "I would tell her that she is doing her best and that it is okay to rest.",
    "I feel tired today but I am still here and that is enough.",
    "My shoulders are tight and my chest feels heavy.",
    "I was doing the best I could with what I knew at the time.",
    "I want to be kinder to myself when I make a mistake.",
    "Thank you for listening to me this morning.",
]
FOLDER = Path(__file__).resolve().parent.parent / "audio_fixtures"


def main() -> None:
    FOLDER.mkdir(exist_ok=True)
    engine = open_engine(load_voice("natural"))
    rate = engine.sample_rate_hz
    pad = np.zeros(rate // 2, dtype=np.float32)
    for index, text in enumerate(REFLECTIONS, start=1):
        samples = np.concatenate([pad, engine.synthesize(text), pad]) * 0.7
        write_audio(samples, rate, FOLDER / f"reflection-{index}.flac", "flac", text)
        (FOLDER / f"reflection-{index}.txt").write_text(text + "\n", encoding="utf-8")
    write_audio(np.zeros(3 * rate, dtype=np.float32), rate, FOLDER / "silence.flac", "flac", "")
    room = noise_loop("brown-noise", rate)[: 3 * rate] * np.float32(0.01)
    write_audio(room, rate, FOLDER / "room-noise.flac", "flac", "")
    print(f"wrote {len(REFLECTIONS)} reflections, silence and room noise to {FOLDER}")


if __name__ == "__main__":
    main()
