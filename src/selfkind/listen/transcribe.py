"""Transcribing a file: any audio ffmpeg can read, fed to a recognizer in chunks."""

from __future__ import annotations

import subprocess
from pathlib import Path

from .. import ffmpeg
from ..errors import TranscribeError
from .recognizers import RATE_HZ, Recognizer, Transcript


def transcribe_file(path: Path, recognizer: Recognizer, chunk_s: float = 0.25) -> Transcript:
    """Any file ffmpeg can read, resampled to 16 kHz mono and fed in chunks."""
    if not path.is_file():
        raise TranscribeError(f"{path}: no such file")
    process = ffmpeg.start(
        ["-i", str(path), "-vn", "-ac", "1", "-ar", str(RATE_HZ), "-f", "s16le", "pipe:1"],
        stdout=subprocess.PIPE,
    )
    chunk = int(chunk_s * RATE_HZ) * 2
    try:
        while data := process.stdout.read(chunk):
            recognizer.accept(data)
    except BaseException:
        process.kill()
        raise
    try:
        process.finish()
    except ffmpeg.FfmpegFailed as err:
        raise TranscribeError(f"{path}: not readable as audio ({err.reason})") from None
    return recognizer.finish()
