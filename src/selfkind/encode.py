"""Samples -> an audio file, through an ffmpeg process fed as the samples are made.

Mixing and encoding overlap: while ffmpeg encodes one block on one core, the next is mixed
on the other. The file is written under a temporary name in the output folder and only
moved into place by :func:`publish` once everything has succeeded.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import SelfkindError, SetupError

FORMATS = ("wav", "flac", "mp3", "ogg")
LOSSY_FORMATS = ("mp3", "ogg")
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


def temporary_beside(target: Path) -> Path:
    """A new, empty file in the target's folder, hidden, to be renamed over the target."""
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    os.close(handle)
    return Path(name)


def publish(temp: Path, final: Path) -> None:
    """Move a finished temporary file into place, with the permissions a new file would get."""
    umask = os.umask(0o022)
    os.umask(umask)
    os.chmod(temp, 0o666 & ~umask)
    os.replace(temp, final)


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
        command = ["ffmpeg", "-nostdin", "-hide_banner", "-v", "error", "-y"]
        command += ["-f", "f32le", "-ar", str(sample_rate_hz), "-ac", "1", "-i", "pipe:0"]
        command += ["-metadata", f"title={title}", "-fflags", "+bitexact", "-flags:a", "+bitexact"]
        command += _CODEC_ARGS[fmt] + [str(path)]
        try:
            self._process = subprocess.Popen(
                command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
            )
        except FileNotFoundError:
            raise SetupError("ffmpeg is missing; install it with: apt-get install ffmpeg") from None
        _widen_pipe(self._process.stdin)

    def write(self, block: np.ndarray) -> None:
        assert self._process.stdin is not None
        try:
            self._process.stdin.write(np.ascontiguousarray(block, dtype="<f4").tobytes())
        except BrokenPipeError:
            self.close()  # raises with ffmpeg's own reason

    def close(self) -> None:
        """Wait for ffmpeg to finish the file; raises EncodeError if it failed."""
        assert self._process.stdin is not None
        try:
            self._process.stdin.close()
        except BrokenPipeError:
            pass
        stderr = self._process.stderr.read() if self._process.stderr else b""
        code = self._process.wait()
        if code != 0:
            reason = stderr.decode(errors="replace").strip().splitlines()
            raise EncodeError(
                f"ffmpeg could not write {self.path.name}: {reason[-1] if reason else code}"
            )
        if self.fmt == "mp3" and self.chapters:
            write_id3_chapters(self.path, self.chapters)

    def abort(self) -> None:
        if self._process.poll() is None:
            self._process.kill()
        self._process.wait()


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
