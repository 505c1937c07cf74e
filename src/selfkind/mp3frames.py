"""MPEG audio Layer III frames, and the Xing/LAME info frame that tells players a file's
length: enough to join MP3s encoded in pieces into one file that plays as if encoded whole.

Traps, named once:

- A frame holds 1152 samples at 32-48 kHz (MPEG-1) but 576 at 16-24 kHz (MPEG-2 "LSF",
  selfkind's 22.05 kHz) and 8-12 kHz (MPEG-2.5); its length in bytes follows from the
  bitrate, the sample rate and a padding bit in its four-byte header.
- The info frame is a silent frame whose side information is zeros; the "Xing" (VBR) or
  "Info" (CBR) tag sits after it, so its offset depends on the MPEG version and channels.
- The LAME tag's delay and padding count samples the encoder added at the start and the end;
  decoders add their own 529 and trim both, so a file decodes to exactly what was encoded.
- The tag's own CRC covers every byte of the frame before it. ffmpeg (5.1) always takes 190
  bytes, right for 44.1 kHz stereo but past the end of a 22.05 kHz mono info frame, so the
  CRC it writes there is of whatever followed in its memory; selfkind writes the true one.
"""

from __future__ import annotations

import functools
import mmap
from array import array
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

_BITRATES_KBPS = {
    1: (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    2: (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
_SAMPLE_RATES_HZ = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}
TOC_ENTRIES = 100


class BadFrame(ValueError):
    """Bytes that are not the MPEG audio Layer III frame they were taken for."""


def frame_samples(sample_rate_hz: int) -> int:
    """Samples per channel in one Layer III frame at this rate."""
    return 1152 if sample_rate_hz >= 32000 else 576


@dataclass(frozen=True)
class FrameHeader:
    version_bits: int
    """3 for MPEG-1, 2 for MPEG-2, 0 for MPEG-2.5."""
    bitrate_kbps: int
    sample_rate_hz: int
    padded: bool
    mono: bool

    @property
    def n_bytes(self) -> int:
        per_kbit = 144000 if self.version_bits == 3 else 72000
        return per_kbit * self.bitrate_kbps // self.sample_rate_hz + int(self.padded)

    @property
    def tag_offset(self) -> int:
        """Where an info frame's "Xing"/"Info" tag starts: after the header and the
        (zeroed) side information."""
        if self.version_bits == 3:
            return 4 + (17 if self.mono else 32)
        return 4 + (9 if self.mono else 17)


def parse_header(data: bytes | memoryview, at: int = 0) -> FrameHeader:
    if len(data) - at < 4:
        raise BadFrame(f"a frame header needs 4 bytes, {len(data) - at} are left at byte {at}")
    word = int.from_bytes(data[at : at + 4], "big")
    version = (word >> 19) & 3
    bitrate_index, rate_index = (word >> 12) & 15, (word >> 10) & 3
    if word >> 21 != 0x7FF or version == 1 or (word >> 17) & 3 != 1:
        raise BadFrame(f"no Layer III frame header at byte {at} ({word:08x})")
    if bitrate_index in (0, 15) or rate_index == 3:
        raise BadFrame(f"a free-format or invalid frame header at byte {at} ({word:08x})")
    return FrameHeader(
        version_bits=version,
        bitrate_kbps=_BITRATES_KBPS[1 if version == 3 else 2][bitrate_index],
        sample_rate_hz=_SAMPLE_RATES_HZ[version][rate_index],
        padded=bool((word >> 9) & 1),
        mono=(word >> 6) & 3 == 3,
    )


def id3v2_size(data: bytes | memoryview) -> int:
    """Bytes of an ID3v2 tag at the start of ``data`` (0 if there is none)."""
    if len(data) < 10 or bytes(data[:3]) != b"ID3":
        return 0
    size = 0
    for byte in bytes(data[6:10]):
        size = (size << 7) | (byte & 0x7F)
    footer = 10 if data[5] & 0x10 else 0
    return 10 + size + footer


def frame_spans(data: bytes | memoryview, start: int = 0) -> Iterator[tuple[int, int]]:
    """(start, end) of each frame from ``start`` to the end of ``data``, which must hold
    whole frames only (no trailing tag)."""
    at = start
    while at < len(data):
        end = at + parse_header(data, at).n_bytes
        if end > len(data):
            raise BadFrame(f"the frame at byte {at} runs past the end ({end} > {len(data)})")
        yield at, end
        at = end


def frame_starts(
    data: bytes | memoryview | mmap.mmap, start: int = 0, count: int | None = None
) -> np.ndarray:
    """Where each of ``count`` frames from ``start`` begins (all to the end of ``data`` if
    None), then where the last one ends: :func:`frame_spans`, quicker (a 20-minute file has
    46,000 frames), for data that holds whole frames only."""
    lengths: dict[int, int] = {}
    starts = array("q", [start])
    at, end = start, len(data)
    left = -1 if count is None else count
    while left and at < end:
        # The bits that set a frame's length: version, layer, bitrate, rate and padding.
        key = int.from_bytes(data[at : at + 3], "big") & 0xFFFFFE
        n_bytes = lengths.get(key)
        if n_bytes is None:
            n_bytes = lengths[key] = parse_header(data, at).n_bytes
        at += n_bytes
        starts.append(at)
        left -= 1
    if at > end:
        raise BadFrame(f"the last frame runs past the end ({at} > {end})")
    if left > 0:
        raise BadFrame(f"{count} frames were wanted from byte {start}; {count - left} are there")
    return np.frombuffer(starts, dtype=np.int64)


def is_info_frame(frame: bytes | memoryview) -> bool:
    offset = parse_header(frame).tag_offset
    return bytes(frame[offset : offset + 4]) in (b"Xing", b"Info")


# CRC-16/ARC (polynomial 0x8005, reflected, starting from 0): the LAME tag's checksums.
def _crc_table() -> np.ndarray:
    table = np.zeros(256, dtype=np.uint16)
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
        table[byte] = crc
    return table


_CRC_TABLE = _crc_table()
_CRC_LIST = [int(v) for v in _CRC_TABLE]


def _crc_small(data: bytes, crc: int = 0) -> int:
    for byte in data:
        crc = _CRC_LIST[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc


@functools.cache
def _row_step(width: int) -> tuple[list[int], list[int]]:
    """What ``width`` zero bytes do to a register, as lookups on its low and high byte: the
    CRC is linear, so a register's image is the XOR of its bits' images."""
    images = []
    for bit in range(16):
        crc = 1 << bit
        for _ in range(width):
            crc = _CRC_LIST[crc & 0xFF] ^ (crc >> 8)
        images.append(crc)

    def image(value: int) -> int:
        out = 0
        for bit in range(16):
            if value >> bit & 1:
                out ^= images[bit]
        return out

    return [image(v) for v in range(256)], [image(v << 8) for v in range(256)]


def crc16(data: bytes | memoryview, crc: int = 0) -> int:
    """CRC-16/ARC of ``data``, continuing from ``crc``. Long data is cut into rows whose
    CRCs numpy computes side by side, then chained; a byte loop in Python would take a
    second for a 20-minute file. (A CRC from 0 is unchanged by leading zero bytes, so the
    first row is padded in front; starting from ``crc`` is the same as starting from 0 with
    ``crc`` XORed into the first two bytes.)"""
    raw = np.frombuffer(data, dtype=np.uint8)
    if raw.size < 4096:
        return _crc_small(raw.tobytes(), crc)
    # Rows cost a Python step each, columns a few numpy calls: about sqrt(n) / 4 columns.
    width = 1 << max(6, (raw.size.bit_length() + 1) // 2 - 2)
    rows = -(-raw.size // width)
    grid = np.zeros(rows * width, dtype=np.uint8)
    start = grid.size - raw.size
    grid[start:] = raw
    grid[start] ^= crc & 0xFF
    grid[start + 1] ^= crc >> 8
    grid = grid.reshape(rows, width)
    row_crc = np.zeros(rows, dtype=np.uint16)
    for column in range(width):
        row_crc = _CRC_TABLE[(row_crc ^ grid[:, column]) & 0xFF] ^ (row_crc >> 8)
    low, high = _row_step(width)
    out = 0
    for value in row_crc.tolist():
        out = low[out & 0xFF] ^ high[out >> 8] ^ value
    return out


@dataclass(frozen=True)
class StreamFacts:
    """What the info frame must say about the audio frames that follow it."""

    frame_sizes: np.ndarray
    """Bytes of each audio frame, in order."""
    delay_samples: int
    """Encoder delay as the LAME tag counts it (LAME's 576; decoders add 529)."""
    padding_samples: int
    music_crc: int
    """CRC-16/ARC of all the audio frames' bytes."""


def info_frame(template: bytes, facts: StreamFacts) -> bytes:
    """``template`` (an info frame an encoder wrote for part of the stream) with every field
    that depends on the whole stream rewritten: frame and byte counts, the seek table, the
    LAME tag's delay and padding, music length and CRC, and the tag's own CRC. The rest
    (encoder name, VBR method, quality) is the encoder's and stays."""
    header = parse_header(template)
    at = header.tag_offset
    if len(template) != header.n_bytes or not is_info_frame(template):
        raise BadFrame("the template is not a Xing/Info frame")
    if len(template) < at + 156 or bytes(template[at + 120 : at + 124]) == b"\0\0\0\0":
        raise BadFrame("the info frame has no LAME tag")
    if not 0 <= facts.padding_samples < 4096 or not 0 <= facts.delay_samples < 4096:
        raise BadFrame(
            f"delay {facts.delay_samples} or padding {facts.padding_samples} out of range"
        )
    frame = bytearray(template)
    n_frames = len(facts.frame_sizes)
    total = len(frame) + int(np.sum(facts.frame_sizes, dtype=np.int64))
    frame[at + 8 : at + 12] = n_frames.to_bytes(4, "big")
    frame[at + 12 : at + 16] = total.to_bytes(4, "big")
    frame[at + 16 : at + 116] = seek_table(len(frame), facts.frame_sizes)
    frame[at + 141 : at + 144] = (facts.delay_samples << 12 | facts.padding_samples).to_bytes(
        3, "big"
    )
    frame[at + 148 : at + 152] = total.to_bytes(4, "big")
    frame[at + 152 : at + 154] = facts.music_crc.to_bytes(2, "big")
    frame[at + 154 : at + 156] = _crc_small(bytes(frame[: at + 154])).to_bytes(2, "big")
    return bytes(frame)


def seek_table(info_bytes: int, frame_sizes: np.ndarray) -> bytes:
    """The Xing TOC: entry i is where the file is, in 256ths from the info frame on, once
    the frame at i % of the duration has been read (LAME's and ffmpeg's convention, exact
    here where theirs is sampled for long files); entry 0 is 0."""
    if not len(frame_sizes):
        return bytes(TOC_ENTRIES)
    ends = info_bytes + np.cumsum(np.asarray(frame_sizes, dtype=np.int64))
    total = int(ends[-1])
    picks = ends[np.arange(TOC_ENTRIES) * len(frame_sizes) // TOC_ENTRIES] * 256 // total
    table = np.minimum(picks, 255).astype(np.uint8)
    table[0] = 0
    return table.tobytes()


@dataclass(frozen=True)
class InfoFields:
    """An info frame's fields, read back: what tests and players check."""

    n_frames: int
    n_bytes: int
    toc: bytes
    delay_samples: int
    padding_samples: int
    music_length: int
    music_crc: int
    tag_crc: int
    tag_crc_ok: bool


def read_info(frame: bytes) -> InfoFields:
    at = parse_header(frame).tag_offset
    if not is_info_frame(frame):
        raise BadFrame("not a Xing/Info frame")
    field = int.from_bytes
    delay_padding = field(frame[at + 141 : at + 144], "big")
    tag_crc = field(frame[at + 154 : at + 156], "big")
    return InfoFields(
        n_frames=field(frame[at + 8 : at + 12], "big"),
        n_bytes=field(frame[at + 12 : at + 16], "big"),
        toc=bytes(frame[at + 16 : at + 116]),
        delay_samples=delay_padding >> 12,
        padding_samples=delay_padding & 0xFFF,
        music_length=field(frame[at + 148 : at + 152], "big"),
        music_crc=field(frame[at + 152 : at + 154], "big"),
        tag_crc=tag_crc,
        tag_crc_ok=_crc_small(bytes(frame[: at + 154])) == tag_crc,
    )
