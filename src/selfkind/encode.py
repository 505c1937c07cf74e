"""Samples -> an audio file, through an ffmpeg process fed as the samples are made.

Mixing and encoding overlap: while ffmpeg encodes one block on one core, the next is mixed
on the other. The file is written under a temporary name in the output folder and only
renamed into place by :func:`commit_outputs` once everything has succeeded.
"""

from __future__ import annotations

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
    "mp3": ["-c:a", "libmp3lame", "-q:a", "5", "-id3v2_version", "3", "-f", "mp3"],
    "ogg": ["-c:a", "libvorbis", "-q:a", "4", "-f", "ogg"],
}


class EncodeError(SelfkindError):
    """ffmpeg failed while writing a file."""


@dataclass(frozen=True)
class Chapter:
    title: str
    start_s: float
    end_s: float


def _escape_ffmetadata(text: str) -> str:
    for special in ("\\", "=", ";", "#", "\n"):
        text = text.replace(special, "\\" + special)
    return text


def ffmetadata(title: str, chapters: list[Chapter]) -> str:
    """ffmpeg's metadata file: the title and chapters in milliseconds."""
    lines = [";FFMETADATA1", f"title={_escape_ffmetadata(title)}"]
    for chapter in chapters:
        lines += [
            "[CHAPTER]",
            "TIMEBASE=1/1000",
            f"START={round(chapter.start_s * 1000)}",
            f"END={round(chapter.end_s * 1000)}",
            f"title={_escape_ffmetadata(chapter.title)}",
        ]
    return "\n".join(lines) + "\n"


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
        self._metadata_file: Path | None = None
        command = ["ffmpeg", "-nostdin", "-hide_banner", "-v", "error", "-y"]
        command += ["-f", "f32le", "-ar", str(sample_rate_hz), "-ac", "1", "-i", "pipe:0"]
        if fmt in ("mp3", "ogg", "flac"):
            metadata = temporary_beside(path.with_suffix(".ffmeta"))
            metadata.write_text(ffmetadata(title, chapters or []), encoding="utf-8")
            self._metadata_file = metadata
            command += ["-f", "ffmetadata", "-i", str(metadata), "-map_metadata", "1"]
            command += ["-map_chapters", "1" if fmt == "mp3" else "-1"]
        else:
            command += ["-metadata", f"title={title}"]
        command += ["-map", "0:a", "-fflags", "+bitexact", "-flags:a", "+bitexact"]
        command += _CODEC_ARGS[fmt] + [str(path)]
        try:
            self._process = subprocess.Popen(
                command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
            )
        except FileNotFoundError:
            self._remove_metadata()
            raise SetupError("ffmpeg is missing; install it with: apt-get install ffmpeg") from None

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
        self._remove_metadata()
        if code != 0:
            reason = stderr.decode(errors="replace").strip().splitlines()
            raise EncodeError(
                f"ffmpeg could not write {self.path.name}: {reason[-1] if reason else code}"
            )

    def abort(self) -> None:
        if self._process.poll() is None:
            self._process.kill()
        self._process.wait()
        self._remove_metadata()

    def _remove_metadata(self) -> None:
        if self._metadata_file is not None:
            self._metadata_file.unlink(missing_ok=True)
