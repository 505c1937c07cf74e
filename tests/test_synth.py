"""Speech synthesis with the real pyttsx3 + espeak-ng: clips, cache and worker processes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

from selfkind.cache import ClipCache
from selfkind.levels import CLIP_LUFS
from selfkind.loudness import integrated_lufs
from selfkind.master import true_peak
from selfkind.synth import SESSION_RATE_HZ, synthesize_script
from selfkind.voices import load_voice

SPREAD_CHECK = """
import multiprocessing, sys
from selfkind.cache import ClipCache
from selfkind.synth import synthesize_script
from selfkind.voices import load_voice
most = 0
def seen():
    global most
    most = max(most, len(multiprocessing.active_children()))
texts = [f"Sentence number {i}, kindly spoken." for i in range(12)]
spoken = synthesize_script(texts, load_voice("default"), ClipCache(sys.argv[1]), jobs=2, on_clip=seen)
print(spoken.synthesized, most)
"""


def test_synthesis_is_spread_over_worker_processes(tmp_path: Path) -> None:
    """In a fresh process (whatever this one synthesized before), jobs=2 runs two workers."""
    result = subprocess.run(
        [sys.executable, "-c", SPREAD_CHECK, str(tmp_path)],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    synthesized, most_workers = map(int, result.stdout.split())
    assert synthesized == 12 and most_workers == 2


def test_workers_after_in_process_synthesis_do_not_hang(tmp_path: Path) -> None:
    """A process that already ran espeak-ng must not fork workers (they would hang)."""
    cache = ClipCache(tmp_path)
    voice = load_voice("default")
    synthesize_script(["Just one line, here."], voice, cache, jobs=1)
    texts = [f"Sentence number {i}, kindly spoken." for i in range(12)]
    spoken = synthesize_script(texts, voice, cache, jobs=2)
    assert spoken.synthesized == 12
    assert all(n > SESSION_RATE_HZ // 2 for n in spoken.n_frames.values())


def test_prepared_clips_are_leveled_trimmed_and_faded(tmp_path: Path) -> None:
    cache = ClipCache(tmp_path)
    texts = ["Notice the breath, as it is.", "You are welcome here, just as you are today."]
    spoken = synthesize_script(texts, load_voice("default"), cache)
    for text in texts:
        clip = cache.load(spoken.keys[text])
        assert abs(integrated_lufs(clip, SESSION_RATE_HZ) - CLIP_LUFS) < 0.1
        assert 20 * np.log10(true_peak(clip).max()) < -2.0
        # Trimmed: the engine's own leading and trailing silence is gone (20 ms is kept)...
        audible = np.flatnonzero(np.abs(clip) > 10 ** (-50 / 20))
        assert audible[0] <= 0.03 * SESSION_RATE_HZ
        assert clip.size - audible[-1] <= 0.03 * SESSION_RATE_HZ
        # ...and faded: the very edges are silent, so no clip starts or stops with a click.
        assert abs(clip[0]) < 1e-3 and abs(clip[-1]) < 1e-3
