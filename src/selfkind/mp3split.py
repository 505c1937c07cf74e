"""Samples -> one MP3, encoded in pieces by several ffmpeg processes side by side.

One LAME process encodes about 720 times faster than real time here, and on two cores it is
what a render waits for. So a long MP3 is cut into pieces dealt in turn to one ffmpeg per
core (a "lane"): while one lane encodes a piece, the mixer goes on to the next piece for
the other. The pieces' frames are then joined into one file whose frames are byte for byte
those of a one-piece encode without the bit reservoir. That takes care, because MP3 frames
are not independent:

- LAME's bit reservoir lets a frame borrow bytes from earlier ones, so a frame taken from
  one piece would point into the other. Pieces are encoded with ``-reservoir 0`` (every
  frame self-contained), which costs about 10 % in size at the same quality setting.
- Frames sit on a grid of :func:`~selfkind.mp3frames.frame_samples` (576 at 22.05 kHz), so
  a piece starts on that grid. The encoder's analysis reaches back over earlier samples and
  its state (the adaptive hearing threshold most of all) takes about a second of input to
  settle, so a piece starts PRE_ROLL_S early and those frames are dropped; it runs
  POST_ROLL_FRAMES past its end, because a frame's encoding also looks ahead. A lane is fed
  its pieces one after another: the pre-roll settles it from the end of its last piece just
  as from a fresh start, and one process per lane saves starting one per piece.
- The settling is only exact where the piece starts in a pause, so cuts fall inside the
  quiet spans of the timeline (no voice, no bell ringing), pre- and post-roll included.
- The first frame is the Xing/LAME info frame, which says how many frames and bytes follow,
  where to seek, and how many samples the encoder added at each end (so players trim them:
  a gapless length). Written by ffmpeg for the first piece, it is rebuilt for the whole.

Plain concatenation (or ffmpeg's concat demuxer) leaves a 57 ms hole at each join instead.
"""

from __future__ import annotations

import contextlib
import math
import mmap
import os
import select
import subprocess
from array import array
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import ffmpeg
from .encode import MP3_ENCODING, Chapter, EncodeError, Tags, widen_pipe, write_tags_and_chapters
from .files import temporary_beside
from .mp3frames import (
    BadFrame,
    StreamFacts,
    crc16,
    frame_samples,
    frame_starts,
    id3v2_size,
    info_frame,
    is_info_frame,
    read_info,
)

CHUNK_S = 45.0
"""About how much audio one piece holds: each costs PRE_ROLL_S of extra encoding, and a lane
must hold a piece's worth of audio while the mixer feeds the other lanes."""
PRE_ROLL_S = 1.5
"""Audio encoded before a piece's first kept frame and dropped: LAME's state settles from
digital silence within about 1.1 s (43 frames at 22.05 kHz), from quiet noise in 3 frames."""
POST_ROLL_FRAMES = 4
"""Frames encoded past a piece's last kept frame (one is needed; four to spare)."""
GUARD_S = 0.1
"""Room kept from the voice on either side of a cut's pre- and post-roll: the encoder's own
delay (1105 samples) and the limiter's latency."""
HANDOFF_BYTES = 1 << 18
"""Audio given to a lane's pipe at a time (3 s at 22.05 kHz) rather than block by block:
each write may wake an ffmpeg waiting for input, which then competes with the mixer for a
core; fewer, larger writes wake it less often."""
MAX_QUEUED_S = 60.0
"""Audio waiting for one lane's ffmpeg at most; the mixer waits beyond that, so memory is
bounded whatever the session's length or its pauses."""


def pre_roll_frames(sample_rate_hz: int) -> int:
    return math.ceil(PRE_ROLL_S * sample_rate_hz / frame_samples(sample_rate_hz))


def plan_cuts(
    quiet_spans: Sequence[tuple[int, int]],
    n_samples: int,
    sample_rate_hz: int,
    chunk_s: float = CHUNK_S,
) -> list[int]:
    """Sample positions to cut an encode at, about ``chunk_s`` apart: each on the frame
    grid, with its pre- and post-roll (and a guard) inside one quiet span. Empty when the
    session is shorter than two pieces or has no pause long enough."""
    size = frame_samples(sample_rate_hz)
    before = pre_roll_frames(sample_rate_hz) * size + round(GUARD_S * sample_rate_hz)
    after = POST_ROLL_FRAMES * size + round(GUARD_S * sample_rate_hz)
    allowed = []
    for start, end in quiet_spans:
        first = -(-(start + before) // size) * size
        last = min(end - after, n_samples - after) // size * size
        if first <= last:
            allowed.append((first, last))
    step = round(chunk_s * sample_rate_hz)
    cuts: list[int] = []
    previous = 0
    for first, last in allowed:
        # The earliest cut at least a chunk after the previous one; a span wholly before
        # that point has none.
        while True:
            wanted = previous + step
            if wanted > last or wanted + step // 4 > n_samples:
                break
            cut = max(first, -(-wanted // size) * size)
            cuts.append(cut)
            previous = cut
    return cuts


@dataclass(frozen=True)
class Piece:
    """One stretch of the stream, in samples (all on the frame grid but the very end), and
    where its frames are found in the output of the lane (ffmpeg process) it goes to."""

    feed_start: int
    """First sample given to the lane (the kept start less the pre-roll)."""
    feed_stop: int | None
    """Sample after the last given, or None for the last piece (fed to the end)."""
    lane: int
    first_frame: int
    """Index of the first frame this piece keeps among its lane's audio frames (an info
    frame, which only the first lane writes, is not counted)."""
    keep_frames: int | None
    """Frames it contributes, or None for all that remain in the lane (the last piece)."""


def pieces(cuts: Sequence[int], sample_rate_hz: int, lanes: int) -> list[Piece]:
    """The pieces between ``cuts``, dealt to ``lanes`` in turn. A lane's encoder is fed its
    pieces one after another; each piece's pre-roll lets the encoder settle from the end of
    the lane's previous piece just as from a fresh start, so its kept frames are the same."""
    size = frame_samples(sample_rate_hz)
    pre = pre_roll_frames(sample_rate_hz)
    bounds = [0, *cuts]
    fed = [0] * lanes  # samples each lane has been given so far (whole frames)
    out = []
    for index, start in enumerate(bounds):
        stop = bounds[index + 1] if index + 1 < len(bounds) else None
        lane = index % lanes
        skip = 0 if index == 0 else pre
        feed_start = start - skip * size
        feed_stop = None if stop is None else stop + POST_ROLL_FRAMES * size
        out.append(
            Piece(
                feed_start=feed_start,
                feed_stop=feed_stop,
                lane=lane,
                first_frame=fed[lane] // size + skip,
                keep_frames=None if stop is None else (stop - start) // size,
            )
        )
        if feed_stop is not None:
            fed[lane] += feed_stop - feed_start
    return out


class _Lane:
    """One ffmpeg encoding the pieces dealt to it. Its pipe is written without blocking:
    what it cannot take yet waits here (up to MAX_QUEUED_S) and is given at the next block,
    so the mixer goes on to the next piece (another lane's) while this one encodes. No
    feeding thread: nothing to hand Python's lock to, and nothing to stop on an error."""

    def __init__(self, path: Path, sample_rate_hz: int, first: bool) -> None:
        self.path = path
        command = ["-y", "-f", "f32le", "-ar", str(sample_rate_hz), "-ac", "1", "-i", "pipe:0"]
        command += ["-fflags", "+bitexact", "-flags:a", "+bitexact", *MP3_ENCODING]
        command += ["-reservoir", "0", "-id3v2_version", "0", "-write_id3v1", "0"]
        # Only the first lane's info frame is kept (and rebuilt).
        command += ["-write_xing", "1" if first else "0", "-f", "mp3", str(path)]
        self.process = ffmpeg.start(command, stdin=subprocess.PIPE)
        widen_pipe(self.process.stdin)
        self.fd = self.process.stdin.fileno()
        os.set_blocking(self.fd, False)
        self._waiting: deque[memoryview] = deque()
        self._waiting_bytes = 0
        self._limit_bytes = round(MAX_QUEUED_S * sample_rate_hz) * 4
        self.failed = False

    @property
    def has_waiting(self) -> bool:
        return bool(self._waiting)

    def feed(self, samples: np.ndarray) -> None:
        data = memoryview(samples.tobytes())
        self._waiting.append(data)
        self._waiting_bytes += len(data)
        self.give(at_least=HANDOFF_BYTES)
        while self._waiting_bytes > self._limit_bytes and not self.failed:
            select.select([], [self.fd], [])
            self.give()

    def give(self, at_least: int = 0) -> None:
        """Write what the pipe takes now, without waiting, if ``at_least`` bytes wait."""
        if self._waiting_bytes < at_least:
            return
        while self._waiting and not self.failed:
            data = self._waiting[0]
            try:
                written = os.write(self.fd, data)
            except BlockingIOError:
                return
            except BrokenPipeError:
                self.failed = True
                self._waiting.clear()
                self._waiting_bytes = 0
                return
            self._waiting_bytes -= written
            if written < len(data):
                self._waiting[0] = data[written:]
                return
            self._waiting.popleft()

    def finish(self) -> None:
        """Wait for the encode (give the rest first; see :func:`_give_all`); raises
        FfmpegFailed with ffmpeg's reason."""
        _give_all([self])
        with contextlib.suppress(BrokenPipeError, ValueError):
            self.process.stdin.close()
        self.process.finish()

    def kill(self) -> None:
        self.failed = True
        self._waiting.clear()
        self.process.kill()
        with contextlib.suppress(OSError, ValueError):
            self.process.stdin.close()


def _give_all(lanes: Sequence[_Lane]) -> None:
    """Write every lane's waiting audio, to whichever lane can take some, until none waits."""
    while busy := [lane for lane in lanes if lane.has_waiting and not lane.failed]:
        _, writable, _ = select.select([], [lane.fd for lane in busy], [])
        for lane in busy:
            if lane.fd in writable:
                lane.give()


def _let_go(data: mmap.mmap, up_to: int) -> None:
    """Drop the mapped pages before ``up_to`` from this process (the file stays cached)."""
    if hasattr(mmap, "MADV_DONTNEED"):
        with contextlib.suppress(OSError):
            data.madvise(mmap.MADV_DONTNEED, 0, up_to - up_to % mmap.PAGESIZE)


class SplitMp3Encoder:
    """The :class:`~selfkind.encode.Encoder` interface for an MP3 cut at ``cuts`` (see
    :func:`plan_cuts`) and encoded by ``cores`` ffmpeg processes side by side. ``path``
    receives the joined file; the lanes' outputs are hidden temporary files beside it."""

    def __init__(
        self,
        path: Path,
        sample_rate_hz: int,
        cuts: Sequence[int],
        cores: int = 2,
        chapters: list[Chapter] | None = None,
        tags: Tags | None = None,
        title: str = "",
    ) -> None:
        self.path = path
        self.sample_rate_hz = sample_rate_hz
        n_lanes = max(1, min(cores, len(cuts) + 1))
        self.plan = pieces(cuts, sample_rate_hz, n_lanes)
        self.chapters = chapters or []
        self.tags = tags or Tags(title)
        self._lanes: list[_Lane] = []
        self._position = 0
        self._fed = 0
        """Pieces before this one have been given all their samples."""
        try:
            for lane in range(n_lanes):
                self._lanes.append(_Lane(temporary_beside(path), sample_rate_hz, lane == 0))
        except BaseException:
            self.abort()
            raise

    def write(self, block: np.ndarray) -> None:
        samples = np.ascontiguousarray(block, dtype="<f4")
        start, stop = self._position, self._position + samples.size
        for piece in self.plan[self._fed :]:
            if piece.feed_start >= stop:
                break
            piece_stop = stop if piece.feed_stop is None else piece.feed_stop
            if piece_stop <= start:
                self._fed += 1  # wholly given already: never looked at again
                continue
            lane = self._lanes[piece.lane]
            if lane.failed:
                self._finish(lane)
                raise EncodeError(f"ffmpeg could not write {self.path.name}: it stopped early")
            lo, hi = max(start, piece.feed_start), min(stop, piece_stop)
            lane.feed(samples[lo - start : hi - start])
        for lane in self._lanes:
            lane.give(at_least=HANDOFF_BYTES)  # a lane fed earlier takes more of its part
        self._position = stop

    def _finish(self, lane: _Lane) -> None:
        try:
            lane.finish()
        except ffmpeg.FfmpegFailed as err:
            raise EncodeError(f"ffmpeg could not write {self.path.name}: {err.reason}") from None

    def close(self) -> None:
        """Wait for every lane and write ``path``: the tags and chapters, the rebuilt info
        frame, the pieces' frames. Raises EncodeError if ffmpeg failed."""
        self._complete(tagged=True)

    def finish(self) -> None:
        """As :meth:`close`, without tags or chapters."""
        self._complete(tagged=False)

    def _complete(self, tagged: bool) -> None:
        if self._position <= self.plan[-1].feed_start:
            raise ValueError(f"{self._position} samples were written; the cuts planned more")
        _give_all(self._lanes)  # every lane at once, not one after the other
        for lane in self._lanes:
            self._finish(lane)
        try:
            self._join(tagged)
        except BadFrame as err:
            raise EncodeError(f"could not join the pieces of {self.path.name}: {err}") from None
        except OSError as err:
            # Said as ffmpeg would have said it, so a full disk reads the same either way.
            reason = err.strerror or str(err)
            raise EncodeError(f"could not write {self.path.name}: {reason}") from None
        finally:
            self._remove_lanes()

    def _id3_tag(self, first_frames: bytes) -> bytes:
        """The ID3v2 tag (title, artist, CHAP and CTOC frames...) exactly as ffmpeg's muxer
        writes it in :func:`write_tags_and_chapters`, which needs a file to tag: it is made
        with a few frames rather than by copying the whole joined file once more."""
        sample = temporary_beside(self.path)
        try:
            sample.write_bytes(first_frames)
            write_tags_and_chapters(sample, "mp3", self.tags, self.chapters)
            data = sample.read_bytes()
        finally:
            sample.unlink(missing_ok=True)
        return data[: id3v2_size(data)]

    def _join(self, tagged: bool) -> None:
        """Copy each piece's frames from its lane's output in turn, reading every lane
        front to back once; the pages read are let go after each piece, so memory does not
        grow with the session (a 3-hour file is 60 MB of lane output)."""
        sizes = array("I")
        music_crc = 0
        with contextlib.ExitStack() as stack:
            outputs = []
            for lane in self._lanes:
                handle = stack.enter_context(lane.path.open("rb"))
                if lane.path.stat().st_size == 0:
                    raise BadFrame("an encoder wrote nothing")
                outputs.append(
                    stack.enter_context(mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ))
                )
            head = frame_starts(outputs[0], 0, 9)
            template = outputs[0][: head[1]]
            if not is_info_frame(template):
                raise BadFrame("the first encoder wrote no info frame")
            tag = self._id3_tag(outputs[0][head[1] : head[-1]]) if tagged else b""
            out = stack.enter_context(self.path.open("wb"))
            out.write(tag)
            out.write(template)  # a placeholder, rewritten below
            # Where each lane has been read to: a byte offset and an audio frame's index.
            read_to = [(len(template) if lane == 0 else 0, 0) for lane in range(len(outputs))]
            for piece in self.plan:
                data = outputs[piece.lane]
                at, index = read_to[piece.lane]
                if piece.first_frame < index:
                    raise BadFrame(f"pieces overlap in lane {piece.lane + 1}")
                skip = piece.first_frame - index
                wanted = None if piece.keep_frames is None else skip + piece.keep_frames
                starts = frame_starts(data, at, wanted)[skip:]
                if starts.size < 2:
                    raise BadFrame(f"lane {piece.lane + 1} has too few frames")
                chunk = data[starts[0] : starts[-1]]
                sizes.extend(np.diff(starts).astype(np.uint32))
                music_crc = crc16(chunk, music_crc)
                out.write(chunk)
                read_to[piece.lane] = (int(starts[-1]), index + skip + starts.size - 1)
                _let_go(data, int(starts[-1]))
            delay = read_info(template).delay_samples
            padding = len(sizes) * frame_samples(self.sample_rate_hz) - delay - self._position
            frame_sizes = np.frombuffer(sizes, dtype=np.uint32)
            out.seek(len(tag))
            out.write(info_frame(template, StreamFacts(frame_sizes, delay, padding, music_crc)))

    def _remove_lanes(self) -> None:
        for lane in self._lanes:
            lane.path.unlink(missing_ok=True)

    def abort(self) -> None:
        for lane in self._lanes:
            lane.kill()
        self._remove_lanes()
