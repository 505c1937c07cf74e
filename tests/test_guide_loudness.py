"""The live guide is as loud as the file: the same session heard through PulseAudio's null
sink and rendered to a WAV, measured with the project's own BS.1770 meter."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from selfkind.loudness import PairMeter, integrated_lufs
from selfkind.render import load_script, prepare_session, render_session

from .conftest import SESSION_RATE_HZ, Recorder, decode, run

BELLS = """---
title: Bells
background: none
---
Very little will be said.
[bell]
[pause 3s]
Thank you for this time.
"""
"""A bell ringing out through most of it: the file's measured master gain is nearly 4 dB
over the plan's (a speech-heavy session's is within a dB of it), so a player that used
the plan would be 1.6 LU quieter than the file."""


@pytest.mark.live_s(21)
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


@pytest.mark.parametrize(("gain_a", "gain_b"), [(1.0, 1.0), (1.6, 1.0), (0.7, 2.0), (1.0, 0.0)])
def test_the_pair_meter_measures_any_mix_of_its_two_parts(gain_a: float, gain_b: float) -> None:
    """The master gain is found from one pass: the loudness of voice and bells at any gains
    must be what the meter says of the signal mixed (the meter itself is held to ffmpeg's
    and pyloudnorm's in test_render)."""
    rate = SESSION_RATE_HZ
    rng = np.random.default_rng(7)
    t = np.arange(12 * rate) / rate
    # "Speech": noise in bursts of a syllable, and a pause, over a hum; a "bell": a decaying
    # partial in phase with the hum, ringing under the bursts, so the two overlap and their
    # cross term counts (0.8 to 1.5 LU here: left out, this test fails).
    bursts = (np.sin(2 * np.pi * 3 * t) > 0) & ((t < 4) | (t > 7))
    hum = 0.1 * np.sin(2 * np.pi * 660 * t)
    voice = (0.1 * rng.standard_normal(t.size) * bursts + hum).astype(np.float32)
    bell = (0.2 * np.sin(2 * np.pi * 660 * t) * np.exp(-(t - 3) / 3) * (t >= 3)).astype(np.float32)
    meter = PairMeter(rate)
    for start in range(0, t.size, rate):  # in blocks, as the mixer gives them
        meter.add(voice[start : start + rate], bell[start : start + rate])
    expected = integrated_lufs(gain_a * voice + gain_b * bell, rate)
    assert abs(meter.integrated_lufs(gain_a, gain_b) - expected) < 0.001
