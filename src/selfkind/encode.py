"""Samples -> an audio file, through an ffmpeg process fed as the samples are made.

Mixing and encoding overlap: while ffmpeg encodes one block on one core, the next is mixed
on the other. The file is written under a temporary name in the output folder and only
moved into place by :func:`publish` once everything has succeeded.
"""

from __future__ import annotations

import contextlib
import fcntl
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import ffmpeg
from .errors import SelfkindError, UsageError
from .formats import FORMATS, LOSSY_FORMATS  # noqa: F401 - LOSSY_FORMATS is read from here

_CODEC_ARGS = {
    "wav": ["-c:a", "pcm_s16le", "-f", "wav"],
    "flac": ["-c:a", "flac", "-f", "flac"],
    # VBR quality 5 for a mono 22.05 kHz voice is roughly 40-60 kbit/s and clean for speech,
    # bells and noise alike.
    "mp3": ["-c:a", "libmp3lame", "-q:a", "5", "-compression_level", "7"]
    + ["-id3v2_version", "3", "-f", "mp3"],
    "ogg": ["-c:a", "libvorbis", "-q:a", "4", "-f", "ogg"],
}


class EncodeError(SelfkindError):
    """ffmpeg failed while writing a file."""


@dataclass(frozen=True)
class Chapter:
    title: str
    start_s: float
    end_s: float


def _widen_pipe(stream: object) -> None:
    """Give the pipe to ffmpeg room for a few seconds of audio (Linux allows up to 1 MiB
    unprivileged), so the mixer and the encoder each keep a core busy instead of taking turns."""
    if hasattr(fcntl, "F_SETPIPE_SZ"):
        with contextlib.suppress(OSError):
            fcntl.fcntl(stream.fileno(), fcntl.F_SETPIPE_SZ, 1 << 20)  # type: ignore[attr-defined]


def choose_output(source: str, output: str | None, fmt: str | None) -> tuple[Path, str]:
    """-o and --format agree, or one is inferred from the other; default out/<stem>.mp3."""
    if output:
        path = Path(output)
        suffix = path.suffix.lower().lstrip(".")
        if fmt is None:
            if suffix not in FORMATS:
                raise UsageError(
                    "-o",
                    f"cannot tell the format from '{output}'; add --format ({'|'.join(FORMATS)})",
                )
            fmt = suffix
        elif suffix != fmt:
            raise UsageError("-o", f"'{output}' does not end in .{fmt}, as --format asks")
        return path, fmt
    fmt = fmt or "mp3"
    return Path("out") / f"{Path(source).stem}.{fmt}", fmt


class Encoder:
    """An ffmpeg process reading mono float32 on stdin and writing ``path`` in ``fmt``."""

    def __init__(
        self,
        path: Path,
        fmt: str,
        sample_rate_hz: int,
        title: str,
        chapters: list[Chapter] | None = None,
    ) -> None:
        if fmt not in FORMATS:
            raise ValueError(f"unknown format {fmt!r}")
        self.path = path
        self.fmt = fmt
        self.chapters = chapters or []
        # One input only: given a second (say, a metadata file) ffmpeg polls its inputs from
        # threads and naps whenever the pipe is momentarily empty, which halves its speed.
        command = ["-y", "-f", "f32le", "-ar", str(sample_rate_hz), "-ac", "1", "-i", "pipe:0"]
        command += ["-metadata", f"title={title}", "-fflags", "+bitexact", "-flags:a", "+bitexact"]
        command += _CODEC_ARGS[fmt] + [str(path)]
        self._process = ffmpeg.start(command, stdin=subprocess.PIPE)
        _widen_pipe(self._process.stdin)

    def write(self, block: np.ndarray) -> None:
        try:
            self._process.stdin.write(np.ascontiguousarray(block, dtype="<f4").tobytes())
        except BrokenPipeError:
            self.close()  # raises with ffmpeg's own reason

    def close(self) -> None:
        """Wait for ffmpeg to finish the file; raises EncodeError if it failed."""
        try:
            self._process.stdin.close()
        except BrokenPipeError:
            pass
        try:
            self._process.finish()
        except ffmpeg.FfmpegFailed as err:
            raise EncodeError(f"ffmpeg could not write {self.path.name}: {err.reason}") from None
        if self.fmt == "mp3" and self.chapters:
            write_id3_chapters(self.path, self.chapters)

    def abort(self) -> None:
        self._process.kill()


def write_id3_chapters(path: Path, chapters: list[Chapter]) -> None:
    """Add ID3v2 chapter frames (CHAP, with a CTOC listing them) to an MP3 file's tag."""
    from mutagen.id3 import CHAP, CTOC, ID3, TIT2, CTOCFlags

    tags = ID3(path)
    ids = [f"ch{index}" for index in range(len(chapters))]
    tags.add(
        CTOC(element_id="toc", flags=CTOCFlags.TOP_LEVEL | CTOCFlags.ORDERED, child_element_ids=ids)
    )
    for element_id, chapter in zip(ids, chapters, strict=True):
        tags.add(
            CHAP(
                element_id=element_id,
                start_time=round(chapter.start_s * 1000),
                end_time=round(chapter.end_s * 1000),
                sub_frames=[TIT2(text=[chapter.title])],
            )
        )
    tags.save(path, v2_version=3)
