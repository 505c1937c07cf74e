"""The ambience bed a script asks for: a built-in noise, or the user's own audio file.

A file is decoded once with ffmpeg to the session rate and kept in the cache as ``.npy``,
then read through a memory map, so a long recording never has to fit in memory.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import numpy as np

from . import ffmpeg
from .errors import ScriptError
from .script import BUILTIN_BACKGROUNDS, Script
from .sounds import LOOP_CROSSFADE_S, LoopedSource, leveled, noise_loop

MIN_FILE_S = 10.0
"""A shorter file loops too audibly to be a bed."""
_LEVEL_SAMPLE_S = 120.0
"""How much of a background file is measured to level it."""


def background_path(script: Script, spec: str) -> Path | None:
    """The file a background setting names, relative to the script's folder; None if built in."""
    if spec in BUILTIN_BACKGROUNDS:
        return None
    path = Path(spec).expanduser()
    if not path.is_absolute():
        path = Path(script.path).parent / path
    return path


def check_background(script: Script, spec: str) -> None:
    """Fail early, at the setting's location, when a background file is not there."""
    path = background_path(script, spec)
    if path is not None and not path.is_file():
        line, col = script.location("background")
        choices = ", ".join(BUILTIN_BACKGROUNDS)
        raise ScriptError(
            script.path, line, col, f"background file '{spec}' not found (or use one of: {choices})"
        )


def open_background(
    script: Script, spec: str, sample_rate_hz: int, voice_lufs: float, cache_dir: Path
) -> LoopedSource | None:
    """A looping source at the voice's loudness (the mix sets how far under it the bed sits)."""
    if spec == "none":
        return None
    path = background_path(script, spec)
    if path is None:
        samples = noise_loop(spec, sample_rate_hz)
        crossfade_s = 0.0  # generated noise is periodic already
    else:
        check_background(script, spec)
        samples = _decoded(script, spec, path, sample_rate_hz, cache_dir)
        crossfade_s = LOOP_CROSSFADE_S
    measured = samples[: round(_LEVEL_SAMPLE_S * sample_rate_hz)]
    gain = leveled(np.asarray(measured), sample_rate_hz, voice_lufs)
    return LoopedSource(samples, sample_rate_hz, gain, crossfade_s)


def _decoded(
    script: Script, spec: str, path: Path, sample_rate_hz: int, cache_dir: Path
) -> np.ndarray:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    target = cache_dir / "backgrounds" / f"{digest.hexdigest()[:32]}-{sample_rate_hz}.npy"
    if not target.is_file():
        _decode_to(script, spec, path, sample_rate_hz, target)
    samples = np.load(target, mmap_mode="r")
    if samples.shape[0] < MIN_FILE_S * sample_rate_hz:
        line, col = script.location("background")
        raise ScriptError(
            script.path,
            line,
            col,
            f"background file '{spec}' is {samples.shape[0] / sample_rate_hz:.1f}s long;"
            f" a bed needs at least {MIN_FILE_S:.0f}s",
        )
    return samples


def _decode_to(script: Script, spec: str, path: Path, sample_rate_hz: int, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    command = [
        "-i",
        str(path),
        "-vn",
        "-ac",
        "1",
        "-ar",
        str(sample_rate_hz),
        "-f",
        "f32le",
        "pipe:1",
    ]
    handle, temp = tempfile.mkstemp(dir=target.parent, suffix=".part")
    try:
        with os.fdopen(handle, "wb") as raw:
            try:
                ffmpeg.run(command, stdout=raw)
            except ffmpeg.FfmpegFailed as err:
                line, col = script.location("background")
                raise ScriptError(
                    script.path, line, col,
                    f"background file '{spec}' could not be read as audio ({err.reason})",
                ) from None  # fmt: skip
        raw_samples = np.fromfile(temp, dtype="<f4")
        np.save(temp, raw_samples)  # np.save appends .npy to the name
        os.replace(temp + ".npy", target)
    finally:
        Path(temp).unlink(missing_ok=True)
        Path(temp + ".npy").unlink(missing_ok=True)
