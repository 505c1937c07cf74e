"""An MP3 encoded in pieces on several cores, against one encoded whole: real ffmpeg and
LAME for both, compared frame by frame, sample by sample after decoding, and as players
read the length (ffprobe, the Xing frame count, the LAME tag's delay and padding)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from mutagen.id3 import ID3

from selfkind import mp3frames
from selfkind.encode import MP3_ENCODING, Chapter, EncodeError, Encoder, Tags, open_encoder
from selfkind.mp3split import (
    GUARD_S,
    POST_ROLL_FRAMES,
    SplitMp3Encoder,
    plan_cuts,
    pre_roll_frames,
)
from selfkind.timeline import Event, Timeline, quiet_spans

from .conftest import SESSION_RATE_HZ
from .test_limits import PAGE, tmpfs

RATE = SESSION_RATE_HZ
FRAME = mp3frames.frame_samples(RATE)
SOUND_S, PAUSE_S = 1.0, 2.5
"""The test signal: a second of a voice-like sound, then a pause long enough to cut in."""


def session_pcm(seconds: float, seed: int = 1) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """A few seconds like a session: gliding tones with breath noise, and pauses that are
    alternately a quiet noise bed (as with ambience) and digital silence (as without).
    Returns the samples and the pauses as (start, end) frame ranges."""
    rng = np.random.default_rng(seed)
    n = round(seconds * RATE)
    t = np.arange(n) / RATE
    pcm = np.zeros(n, dtype=np.float32)
    quiet, cursor, index = [], 0, 0
    while cursor < n:
        start, stop = cursor, min(n, cursor + round(SOUND_S * RATE))
        glide = 180 + 40 * index + 30 * np.sin(2 * np.pi * 3 * t[start:stop])
        pcm[start:stop] = 0.3 * np.sin(2 * np.pi * np.cumsum(glide) / RATE)
        pcm[start:stop] += 0.05 * rng.standard_normal(stop - start)
        pause_end = min(n, stop + round(PAUSE_S * RATE))
        if index % 2 == 0:
            pcm[stop:pause_end] = 0.003 * rng.standard_normal(pause_end - stop)
        if pause_end > stop:
            quiet.append((stop, pause_end))
        cursor, index = pause_end, index + 1
    return pcm, quiet


def encode_whole(pcm: np.ndarray, path: Path) -> Path:
    """The reference: one ffmpeg, the same settings, no bit reservoir."""
    command = ["ffmpeg", "-v", "error", "-y", "-f", "f32le", "-ar", str(RATE), "-ac", "1"]
    command += ["-i", "pipe:0", "-fflags", "+bitexact", "-flags:a", "+bitexact", *MP3_ENCODING]
    command += ["-reservoir", "0", "-id3v2_version", "0", "-f", "mp3", str(path)]
    subprocess.run(command, input=pcm.astype("<f4").tobytes(), check=True)
    return path


def encode_split(pcm: np.ndarray, path: Path, cuts: list[int], block: int = 11025) -> Path:
    encoder = SplitMp3Encoder(path, RATE, cuts, cores=2)
    for at in range(0, pcm.size, block):
        encoder.write(pcm[at : at + block])
    encoder.finish()
    return path


def info_and_frames(path: Path) -> tuple[bytes, list[bytes]]:
    data = path.read_bytes()
    spans = list(mp3frames.frame_spans(data, mp3frames.id3v2_size(data)))
    info = data[spans[0][0] : spans[0][1]]
    assert mp3frames.is_info_frame(info)
    return info, [data[start:end] for start, end in spans[1:]]


def decoded_s16(path: Path) -> np.ndarray:
    raw = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-f", "s16le", "-"],
        capture_output=True,
        check=True,
    ).stdout
    return np.frombuffer(raw, dtype="<i2")


def probe(path: Path) -> dict:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_format", "-show_chapters", "-of", "json", str(path)],
        capture_output=True,
        check=True,
        text=True,
    ).stdout
    return json.loads(out)


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """9.5 s (under 400 frames, where ffmpeg's seek table is exact) in three pieces on two
    lanes, so the first lane encodes two pieces one after the other."""
    folder = tmp_path_factory.mktemp("mp3split")
    pcm, quiet = session_pcm(9.5)
    cuts = plan_cuts(quiet, pcm.size, RATE, chunk_s=2.0)
    return {
        "pcm": pcm,
        "cuts": cuts,
        "whole": encode_whole(pcm, folder / "whole.mp3"),
        "split": encode_split(pcm, folder / "split.mp3", cuts),
        "folder": folder,
    }


def test_the_plan_cuts_in_both_kinds_of_pause(pair: dict) -> None:
    _, quiet = session_pcm(9.5)
    assert len(pair["cuts"]) == 2
    before = pre_roll_frames(RATE) * FRAME + round(GUARD_S * RATE)
    after = POST_ROLL_FRAMES * FRAME + round(GUARD_S * RATE)
    spans_cut = []
    for cut in pair["cuts"]:
        assert cut % FRAME == 0
        span = next(i for i, (a, b) in enumerate(quiet) if a + before <= cut <= b - after)
        spans_cut.append(span)
    # Cuts after a noise-bed pause (even) and after digital silence (odd) are both tried.
    assert {span % 2 for span in spans_cut} == {0, 1}


def test_the_joined_frames_are_the_one_piece_frames(pair: dict) -> None:
    whole_info, whole = info_and_frames(pair["whole"])
    split_info, split = info_and_frames(pair["split"])
    assert len(split) == len(whole)
    differing = [i for i, (a, b) in enumerate(zip(split, whole, strict=True)) if a != b]
    assert differing == []


def test_the_joined_file_decodes_to_the_one_piece_samples_and_the_pcm_length(pair: dict) -> None:
    split, whole = decoded_s16(pair["split"]), decoded_s16(pair["whole"])
    # Gapless: the LAME tag's delay and padding are honoured, so the length is the PCM's.
    assert split.size == whole.size == pair["pcm"].size
    assert np.array_equal(split, whole)


def test_the_rebuilt_info_frame_says_what_ffmpeg_says_for_the_whole(pair: dict) -> None:
    whole_info, whole = info_and_frames(pair["whole"])
    split_info, split = info_and_frames(pair["split"])
    ours, theirs = mp3frames.read_info(split_info), mp3frames.read_info(whole_info)
    assert ours.n_frames == theirs.n_frames == len(split)
    assert ours.n_bytes == theirs.n_bytes == pair["split"].stat().st_size
    assert (ours.delay_samples, ours.padding_samples) == (576, theirs.padding_samples)
    assert ours.n_frames * FRAME - ours.delay_samples - ours.padding_samples == pair["pcm"].size
    assert ours.toc == theirs.toc
    assert (ours.music_length, ours.music_crc) == (theirs.music_length, theirs.music_crc)
    # ffmpeg 5.1 checksums 190 bytes of a 182-byte frame (see mp3frames); ours is right.
    assert ours.tag_crc_ok
    # Everything else in the frame is the encoder's, as ffmpeg wrote it.
    same = [i for i in range(len(whole_info)) if split_info[i] == whole_info[i]]
    assert len(same) == len(whole_info) - 2


def test_players_read_the_tagged_file_as_long_as_the_whole(tmp_path: Path) -> None:
    pcm, quiet = session_pcm(9.5, seed=2)
    cuts = plan_cuts(quiet, pcm.size, RATE, chunk_s=2.0)
    chapters = [Chapter("One", 0.0, 4.0), Chapter("Two", 4.0, 9.5)]
    encoder = SplitMp3Encoder(
        tmp_path / "tagged.mp3", RATE, cuts, 2, chapters, Tags("A title", artist="voice")
    )
    encoder.write(pcm)  # one block holding every piece, the pre- and post-rolls
    encoder.close()
    whole = encode_whole(pcm, tmp_path / "whole.mp3")
    tagged = probe(tmp_path / "tagged.mp3")
    assert float(tagged["format"]["duration"]) == float(probe(whole)["format"]["duration"])
    assert [c["tags"]["title"] for c in tagged["chapters"]] == ["One", "Two"]
    assert str(ID3(tmp_path / "tagged.mp3")["TIT2"]) == "A title"
    info, frames = info_and_frames(tmp_path / "tagged.mp3")
    assert mp3frames.read_info(info).n_frames == len(frames) == len(info_and_frames(whole)[1])
    assert mp3frames.read_info(info).tag_crc_ok  # the info frame is ours, after the tag
    assert decoded_s16(tmp_path / "tagged.mp3").size == pcm.size
    assert np.array_equal(decoded_s16(tmp_path / "tagged.mp3"), decoded_s16(whole))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tagged.mp3", "whole.mp3"]


def test_one_piece_when_too_short_to_cut(tmp_path: Path) -> None:
    pcm, quiet = session_pcm(3.0)
    assert plan_cuts(quiet, pcm.size, RATE) == []
    # A session shorter than a piece is encoded as before, reservoir and all.
    encoder = open_encoder(tmp_path / "short.mp3", "mp3", RATE, "t", n_samples=pcm.size)
    assert isinstance(encoder, Encoder)
    encoder.write(pcm)
    encoder.close()
    assert decoded_s16(tmp_path / "short.mp3").size == pcm.size
    # The split encoder given no cuts is one piece too, and still exact and gapless.
    encode_split(pcm, tmp_path / "alone.mp3", [])
    encode_whole(pcm, tmp_path / "whole.mp3")
    assert info_and_frames(tmp_path / "alone.mp3")[1] == info_and_frames(tmp_path / "whole.mp3")[1]
    assert decoded_s16(tmp_path / "alone.mp3").size == pcm.size


def test_other_formats_and_a_one_core_share_stay_one_piece(tmp_path: Path) -> None:
    pcm, quiet = session_pcm(400.0)  # long enough for several pieces
    for fmt in ("wav", "flac", "ogg", "m4a"):
        encoder = open_encoder(tmp_path / f"x.{fmt}", fmt, RATE, "t", None, None, pcm.size, quiet)
        assert isinstance(encoder, Encoder)
        encoder.abort()
    split = open_encoder(tmp_path / "x.mp3", "mp3", RATE, "t", None, None, pcm.size, quiet)
    if len(os.sched_getaffinity(0)) > 1:
        assert isinstance(split, SplitMp3Encoder)
    split.abort()
    # A process allowed one core (a batch worker's share, here by its affinity) does not split.
    code = (
        "import sys; from pathlib import Path; from selfkind.encode import open_encoder;"
        "e = open_encoder(Path(sys.argv[1]), 'mp3', 22050, 't', None, None, 10**7, [(0, 10**7)]);"
        "print(type(e).__name__); e.abort()"
    )
    one_core = subprocess.run(
        ["taskset", "-c", "0", sys.executable, "-c", code, str(tmp_path / "y.mp3")],
        capture_output=True,
        text=True,
        check=True,
    )
    assert one_core.stdout.strip() == "Encoder"
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".part")]


def test_a_failed_piece_is_an_encode_error_and_leaves_nothing(tmp_path: Path) -> None:
    pcm, quiet = session_pcm(9.5)
    cuts = plan_cuts(quiet, pcm.size, RATE, chunk_s=2.0)
    encoder = SplitMp3Encoder(tmp_path / "x.mp3", RATE, cuts, 2)
    encoder.write(pcm[: RATE * 4])
    encoder._lanes[1].process.popen.kill()  # the second ffmpeg dies mid-way
    with pytest.raises(EncodeError, match="x.mp3"):
        encoder.write(pcm[RATE * 4 :])
        encoder.close()
    encoder.abort()
    assert list(tmp_path.iterdir()) == []


def test_a_disk_that_fills_while_joining_is_an_encode_error(tmp_path: Path) -> None:
    pcm, quiet = session_pcm(9.5)
    cuts = plan_cuts(quiet, pcm.size, RATE, chunk_s=2.0)
    joined = encode_split(pcm, tmp_path / "measure.mp3", cuts).stat().st_size
    # Room for the lanes' outputs (a little more than the file) but not for the file too.
    with tmpfs(tmp_path / "small", (joined * 3 // 2 // PAGE + 1) * PAGE) as small:
        with pytest.raises(EncodeError, match="x.mp3: No space left on device"):
            encode_split(pcm, small / "x.mp3", cuts)
        (small / "x.mp3").unlink()  # the caller's, as with one ffmpeg
        assert list(small.iterdir()) == []


def test_quiet_spans_leave_out_the_voice_and_ringing_bells() -> None:
    rate = 1000
    events = (
        Event("speech", 1000, 3000, rate, "Hello."),
        Event("pause", 3000, 40000, rate),
        Event("bell", 20000, 25000, rate, count=2),
        Event("speech", 45000, 46000, rate, "Bye."),
    )
    timeline = Timeline("t", rate, 50000, events)
    # Two strikes 4 s apart, each ringing 10 s: sounding from 20 s to 34 s.
    assert quiet_spans(timeline, ring_s=10.0) == [
        (0, 1000),
        (3000, 20000),
        (34000, 45000),
        (46000, 50000),
    ]


PRE_S = 1.62
"""Pre-roll and guard before a cut: the earliest cut in a pause is this far into it."""


@pytest.mark.parametrize(
    ("spans_s", "length_s", "chunk_s", "expected_s"),
    [
        # A pause every 10 s, pieces of 20 s wanted: the first allowed point from 20 s on.
        ([(a, a + 3) for a in range(5, 100, 10)], 100, 20, [25 + PRE_S, 45 + PRE_S, 65 + PRE_S, 85 + PRE_S]),
        # Pauses too short to hold the pre-roll: no cut at all.
        ([(a, a + 1.5) for a in range(5, 100, 10)], 100, 20, []),
        # Not a piece and a quarter long: one piece.
        ([(1, 20)], 24, 20, []),
        # The only long pause comes late: the piece before it grows; none is cut in the voice.
        ([(0, 1), (70, 80)], 100, 20, [70 + PRE_S]),
    ],
)  # fmt: skip
def test_plan_cuts(
    spans_s: list[tuple[float, float]], length_s: float, chunk_s: float, expected_s: list[float]
) -> None:
    spans = [(round(a * RATE), round(b * RATE)) for a, b in spans_s]
    cuts = plan_cuts(spans, round(length_s * RATE), RATE, chunk_s)
    assert [c / RATE for c in cuts] == pytest.approx(expected_s, abs=2 * FRAME / RATE)
    assert all(cut % FRAME == 0 for cut in cuts)
