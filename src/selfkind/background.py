"""The ambience bed a script asks for: a built-in noise, or the user's own audio file.

A file is decoded once with ffmpeg to the session rate and kept in the cache as raw float32,
then read through a memory map. Only its first :data:`MAX_DECODED_S` are decoded (the bed
loops, so a longer file adds nothing a listener could hear), and ffmpeg's output is copied to
disk a block at a time: memory stays flat however long or large the file is. The decoded beds
share a bounded cache that drops the least recently used.
"""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import numpy as np

from . import ffmpeg, paths
from .cache import touch, trim
from .errors import ScriptError
from .files import publish, remove_stale_parts, temporary_beside, writing
from .script import BUILTIN_BACKGROUNDS, Script
from .sounds import LOOP_CROSSFADE_S, LoopedSource, leveled, noise_loop

MIN_FILE_S = 10.0
"""A shorter file loops too audibly to be a bed."""
MAX_DECODED_S = 600.0
"""How much of a background file is decoded and looped: ten minutes, 53 MB at 22.05 kHz."""
BACKGROUND_CACHE_BYTES = 512 << 20
"""Decoded beds kept at most (about ten of the longest)."""
_LEVEL_SAMPLE_S = 120.0
"""How much of a background file is measured to level it."""
_BLOCK_BYTES = 1 << 20


def background_path(script: Script, spec: str) -> Path | None:
    """The file a background setting names, relative to the script's folder; None if built in."""
    if spec in BUILTIN_BACKGROUNDS:
        return None
    path = Path(spec).expanduser()
    if not path.is_absolute():
        path = Path(script.path).parent / path
    return path


def _error(script: Script, message: str) -> ScriptError:
    line, col = script.location("background")
    return ScriptError(script.path, line, col, message)


def check_background(
    script: Script, spec: str, sample_rate_hz: int | None = None, cache_dir: Path | None = None
) -> np.ndarray | None:
    """Everything a render asks of a background, before any other work: the file is there,
    has sound, and is long enough. It is decoded into the cache on the way (so a render
    after a check starts at once); returns its samples, or None for a built-in bed.
    By default at the session rate, into the user's cache."""
    path = background_path(script, spec)
    if path is None:
        return None
    if sample_rate_hz is None:
        from .synth import SESSION_RATE_HZ

        sample_rate_hz = SESSION_RATE_HZ
    cache_dir = cache_dir or paths.user_cache_dir()
    if not path.is_file():
        choices = ", ".join(BUILTIN_BACKGROUNDS)
        raise _error(script, f"background file '{spec}' not found (or use one of: {choices})")
    return _decoded(script, spec, path, sample_rate_hz, cache_dir)


def open_background(
    script: Script, spec: str, sample_rate_hz: int, voice_lufs: float, cache_dir: Path
) -> LoopedSource | None:
    """A looping source at the voice's loudness (the mix sets how far under it the bed sits)."""
    _clear_leftovers(cache_dir / "backgrounds")
    if spec == "none":
        return None
    samples = check_background(script, spec, sample_rate_hz, cache_dir)
    if samples is None:
        samples = noise_loop(spec, sample_rate_hz)
        crossfade_s = 0.0  # generated noise is periodic already
    else:
        crossfade_s = LOOP_CROSSFADE_S
    measured = samples[: round(_LEVEL_SAMPLE_S * sample_rate_hz)]
    gain = leveled(np.asarray(measured), sample_rate_hz, voice_lufs)
    return LoopedSource(samples, sample_rate_hz, gain, crossfade_s)


def _clear_leftovers(folder: Path) -> None:
    """What a killed decode left, and whole decoded files of earlier versions (``.npy``, up
    to 1.6 GB each), which nothing reads any more."""
    remove_stale_parts(folder)
    for old in folder.glob("*.npy"):
        old.unlink(missing_ok=True)


def _decoded(
    script: Script, spec: str, path: Path, sample_rate_hz: int, cache_dir: Path
) -> np.ndarray:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(_BLOCK_BYTES), b""):
            digest.update(chunk)
    folder = cache_dir / "backgrounds"
    name = f"{digest.hexdigest()[:32]}-{sample_rate_hz}-{MAX_DECODED_S:.0f}s.f32"
    target = folder / name
    _clear_leftovers(folder)
    if target.is_file():
        touch(target)
    else:
        _decode_to(script, spec, path, sample_rate_hz, target)
        trim(folder, BACKGROUND_CACHE_BYTES, "*.f32", keep=[target], recent_s=0.0)
    n_frames = target.stat().st_size // 4
    if n_frames < MIN_FILE_S * sample_rate_hz:
        raise _error(
            script,
            f"background file '{spec}' is {n_frames / sample_rate_hz:.1f}s long;"
            f" a bed needs at least {MIN_FILE_S:.0f}s",
        )
    # The map stays readable even if another process evicts the file meanwhile.
    return np.memmap(target, dtype="<f4", mode="r", shape=(n_frames,))


def _decode_to(script: Script, spec: str, path: Path, sample_rate_hz: int, target: Path) -> None:
    """The first MAX_DECODED_S of the file's first sound track, mono, as float32."""
    command = ["-i", str(path), "-map", "0:a:0?", "-ac", "1", "-ar", str(sample_rate_hz)]
    command += ["-t", f"{MAX_DECODED_S:.0f}", "-f", "f32le", "pipe:1"]
    with writing(target):
        temp = temporary_beside(target)
    process = ffmpeg.start(command, stdout=subprocess.PIPE)
    try:
        with writing(target), open(temp, "wb") as raw:
            for block in iter(lambda: process.stdout.read(_BLOCK_BYTES), b""):
                raw.write(block)
        try:
            process.finish()
        except ffmpeg.FfmpegFailed as err:
            if "does not contain any stream" in err.reason:
                reason = "it has no sound in it (a video without an audio track?)"
            else:
                reason = f"it could not be read as audio ({err.reason})"
            raise _error(script, f"background file '{spec}' cannot be used: {reason}") from None
        publish(temp, target)
    finally:
        process.kill()
        temp.unlink(missing_ok=True)
