"""Samples -> an audio file, through an ffmpeg process fed as the samples are made.

Mixing and encoding overlap: while ffmpeg encodes one block on one core, the next is mixed
on the other. The file is written under a temporary name in the output folder and only
moved into place by :func:`publish` once everything has succeeded.
"""

from __future__ import annotations

import contextlib
import fcntl
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from . import ffmpeg
from .errors import SelfkindError, UsageError
from .formats import FORMATS, LOSSY_FORMATS  # noqa: F401 - LOSSY_FORMATS is read from here

if TYPE_CHECKING:
    from .mp3split import SplitMp3Encoder

MP3_ENCODING = ["-c:a", "libmp3lame", "-q:a", "5", "-compression_level", "7"]
"""VBR quality 5 for a mono 22.05 kHz voice is roughly 40-60 kbit/s and clean for speech,
bells and noise alike."""
_CODEC_ARGS = {
    "wav": ["-c:a", "pcm_s16le", "-f", "wav"],
    "flac": ["-c:a", "flac", "-f", "flac"],
    "mp3": [*MP3_ENCODING, "-id3v2_version", "3", "-f", "mp3"],
    "ogg": ["-c:a", "libvorbis", "-q:a", "4", "-f", "ogg"],
    # AAC in MP4, which phones' audiobook and podcast players read chapters from; 64 kbit/s
    # is ample for a mono voice.
    "m4a": ["-c:a", "aac", "-b:a", "64k", "-f", "mp4"],
}
_TAGGED_FORMATS = ("flac", "mp3", "ogg", "m4a")
"""Formats that carry the full tags and chapters (WAV keeps only its title)."""


class EncodeError(SelfkindError):
    """ffmpeg failed while writing a file."""


@dataclass(frozen=True)
class Chapter:
    title: str
    start_s: float
    end_s: float


@dataclass(frozen=True)
class Tags:
    """What a phone's player shows for a file."""

    title: str
    artist: str = ""
    """The voice."""
    album: str = "selfkind"
    genre: str = "Meditation"
    track: int | None = None
    """Position within a batch, from 1."""
    track_total: int | None = None

    def fields(self) -> dict[str, str]:
        """ffmpeg's metadata names -> values, the empty ones left out."""
        out = {"title": self.title, "artist": self.artist, "album": self.album}
        out["genre"] = self.genre
        if self.track is not None:
            total = f"/{self.track_total}" if self.track_total else ""
            out["track"] = f"{self.track}{total}"
        return {key: value for key, value in out.items() if value}


def widen_pipe(stream: object) -> None:
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
        tags: Tags | None = None,
    ) -> None:
        if fmt not in FORMATS:
            raise ValueError(f"unknown format {fmt!r}")
        self.path = path
        self.fmt = fmt
        self.chapters = chapters or []
        self.tags = tags or Tags(title)
        # One input only: given a second (say, a metadata file) ffmpeg polls its inputs from
        # threads and naps whenever the pipe is momentarily empty, which halves its speed.
        command = ["-y", "-f", "f32le", "-ar", str(sample_rate_hz), "-ac", "1", "-i", "pipe:0"]
        command += ["-metadata", f"title={title}", "-fflags", "+bitexact", "-flags:a", "+bitexact"]
        command += _CODEC_ARGS[fmt] + [str(path)]
        self._process = ffmpeg.start(command, stdin=subprocess.PIPE)
        widen_pipe(self._process.stdin)

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
        if self.fmt in _TAGGED_FORMATS:
            write_tags_and_chapters(self.path, self.fmt, self.tags, self.chapters)

    def abort(self) -> None:
        self._process.kill()


def open_encoder(
    path: Path,
    fmt: str,
    sample_rate_hz: int,
    title: str,
    chapters: list[Chapter] | None = None,
    tags: Tags | None = None,
    n_samples: int | None = None,
    quiet_spans: Sequence[tuple[int, int]] = (),
) -> Encoder | SplitMp3Encoder:
    """The encoder for a file. An MP3 of ``n_samples`` with pauses to cut at
    (``quiet_spans``, frame ranges) is encoded in pieces side by side when this process may
    use more than one core (:mod:`selfkind.mp3split`); a batch worker with one core's
    share, a short session, and every other format are encoded in one piece."""
    if fmt == "mp3" and n_samples is not None:
        from .engines import engine_threads

        cores = engine_threads()
        if cores > 1:
            from .mp3split import SplitMp3Encoder, plan_cuts

            cuts = plan_cuts(quiet_spans, n_samples, sample_rate_hz)
            if cuts:
                return SplitMp3Encoder(path, sample_rate_hz, cuts, cores, chapters, tags, title)
    return Encoder(path, fmt, sample_rate_hz, title, chapters, tags)


def _metadata_value(text: str) -> str:
    """Escape a value for ffmpeg's metadata file (``=``, ``;``, ``#``, ``\\`` and newlines)."""
    for char in ("\\", "=", ";", "#", "\n"):
        text = text.replace(char, "\\" + char)
    return text


def _vorbis_time(seconds: float) -> str:
    total_ms = round(seconds * 1000)
    hours, rest = divmod(total_ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    return f"{hours:02d}:{minutes:02d}:{rest // 1000:02d}.{rest % 1000:03d}"


def _write_vorbis_comments(path: Path, fmt: str, tags: Tags, chapters: list[Chapter]) -> None:
    """Tags and ``CHAPTER001=``/``CHAPTER001NAME=`` comments (the Vorbis chapter extension,
    which ffmpeg and many players read) in a FLAC or Ogg Vorbis file."""
    from mutagen.flac import FLAC
    from mutagen.oggvorbis import OggVorbis

    audio = FLAC(path) if fmt == "flac" else OggVorbis(path)
    names = {"title": "TITLE", "artist": "ARTIST", "album": "ALBUM", "genre": "GENRE"}
    for key, value in tags.fields().items():
        if key in names:
            audio[names[key]] = [value]
    if tags.track is not None:
        audio["TRACKNUMBER"] = [str(tags.track)]
        if tags.track_total:
            audio["TRACKTOTAL"] = [str(tags.track_total)]
    for number, chapter in enumerate(sorted(chapters, key=lambda c: c.start_s), start=1):
        audio[f"CHAPTER{number:03d}"] = [_vorbis_time(chapter.start_s)]
        audio[f"CHAPTER{number:03d}NAME"] = [chapter.title]
    audio.save()


def ffmetadata(tags: Tags, chapters: list[Chapter]) -> str:
    """Tags and chapters in ffmpeg's metadata file format, chapters in time order."""
    lines = [";FFMETADATA1"]
    lines += [f"{key}={_metadata_value(value)}" for key, value in tags.fields().items()]
    for chapter in sorted(chapters, key=lambda c: c.start_s):
        lines += [
            "[CHAPTER]",
            "TIMEBASE=1/1000",
            f"START={round(chapter.start_s * 1000)}",
            f"END={round(chapter.end_s * 1000)}",
            f"title={_metadata_value(chapter.title)}",
        ]
    return "\n".join(lines) + "\n"


def write_tags_and_chapters(path: Path, fmt: str, tags: Tags, chapters: list[Chapter]) -> None:
    """Give a finished file its tags and chapters, written by ffmpeg's own muxers so every
    player (and a later ffmpeg conversion) reads them: ID3 CHAP frames in time order with a
    CTOC for MP3, ``CHAPTER001=``/``CHAPTER001NAME=`` comments for FLAC and Ogg Vorbis, and
    a chapter track for M4A.

    FLAC and Ogg are tagged in place. MP3 and M4A are copied by ffmpeg (not encoded again)
    into a file beside ``path`` that then replaces it: its muxers write CHAP frames in time
    order and MP4 chapter tracks, which mutagen does not. Kept apart from the encode itself:
    given a second input, ffmpeg encodes at half speed.
    """
    from .files import temporary_beside

    if fmt in ("flac", "ogg"):
        _write_vorbis_comments(path, fmt, tags, chapters)
        return
    metadata = temporary_beside(path)
    remuxed = temporary_beside(path)
    try:
        metadata.write_text(ffmetadata(tags, chapters), encoding="utf-8")
        command = ["-y", "-i", str(path), "-f", "ffmetadata", "-i", str(metadata)]
        command += ["-map", "0:a", "-map_metadata", "1", "-map_chapters", "1", "-c", "copy"]
        if fmt == "mp3":
            command += ["-id3v2_version", "3", "-write_id3v1", "0"]
        if fmt == "m4a":
            command += ["-movflags", "+faststart"]
        command += ["-fflags", "+bitexact", "-f", _CODEC_ARGS[fmt][-1], str(remuxed)]
        try:
            ffmpeg.run(command)
        except ffmpeg.FfmpegFailed as err:
            raise EncodeError(f"ffmpeg could not tag {path.name}: {err.reason}") from None
        remuxed.replace(path)
    finally:
        metadata.unlink(missing_ok=True)
        remuxed.unlink(missing_ok=True)
