"""The live guide is as loud as the file: the same session heard through PulseAudio's null
sink and rendered to a WAV, measured with the project's own BS.1770 meter."""

from __future__ import annotations

import time
from pathlib import Path

from selfkind.loudness import integrated_lufs
from selfkind.render import load_script, prepare_session, render_session

from .conftest import SESSION_RATE_HZ, Recorder, decode, run

BELLS = """---
title: Bells
background: none
---
Very little will be said.
[bell]
[pause 8s]
Thank you for this time.
"""
"""A bell ringing out through most of it: the file's measured master gain is nearly 4 dB
over the plan's (a speech-heavy session's is within a dB of it), so a player that used
the plan would be 1.8 LU quieter than the file."""


def test_a_bell_heavy_session_is_as_loud_live_as_in_its_file(
    sound_server: str, tmp_path: Path
) -> None:
    script = tmp_path / "bells.md"
    script.write_text(BELLS)
    rendered_path = tmp_path / "bells.wav"
    render_session(prepare_session(load_script(str(script))), rendered_path, "wav")
    file_lufs = integrated_lufs(decode(rendered_path), SESSION_RATE_HZ)

    recorder = Recorder(sound_server)
    code, _, err = run("guide", str(script), "--delay", "0")
    time.sleep(0.3)
    heard = recorder.stop()
    assert code == 0, err
    # Silence before and after is under the meter's absolute gate, so it does not count.
    live_lufs = integrated_lufs(heard, SESSION_RATE_HZ)
    assert abs(live_lufs - file_lufs) <= 1.0, (live_lufs, file_lufs)
