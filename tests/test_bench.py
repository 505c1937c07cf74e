"""scripts/bench.py: every result names the voice it was measured in."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "scripts" / "bench.py"


def test_a_benchmark_result_names_the_voice_it_measured(tmp_path: Path) -> None:
    script = tmp_path / "short.md"
    script.write_text("---\ntitle: Short\nbackground: none\n---\nRest here.\n")
    voices = {}
    for forced in ("default", "gentle"):  # two espeak-ng profiles: quick, and told apart
        env = {**os.environ, "SELFKIND_HOME": str(tmp_path / forced), "SELFKIND_VOICE": forced}
        out = tmp_path / f"{forced}.wav"
        child = subprocess.run(
            [sys.executable, str(BENCH), "--child", "selfkind", str(script), str(out), "wav", "1"],
            capture_output=True, text=True, env=env, check=False, timeout=120,
        )  # fmt: skip
        assert child.returncode == 0, child.stderr
        voices[forced] = json.loads(child.stdout.strip().splitlines()[-1])["voice"]
    assert voices == {"default": "default", "gentle": "gentle"}
