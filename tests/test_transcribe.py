"""Offline transcription with the real engines: PocketSphinx (English) and Vosk (a real
Korean model from PyPI, as no English Vosk model can be fetched where this is built)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from selfkind.engines import open_engine
from selfkind.errors import SetupError
from selfkind.listen.models import find_vosk_model, find_whisper_model
from selfkind.listen.recognizers import Word, open_recognizer, readable
from selfkind.listen.recognizers.vosk import VoskRecognizer
from selfkind.listen.transcribe import transcribe_file
from selfkind.render import write_audio
from selfkind.voices import VoiceProfile

from .conftest import FIXTURES, KO_MODEL, cli, decode, word_error_rate


def test_pocketsphinx_english_word_error_rate_is_at_most_15_percent() -> None:
    errors = words = 0
    for audio in sorted(FIXTURES.glob("reflection-*.flac")):
        truth = audio.with_suffix(".txt").read_text().strip()
        transcript = transcribe_file(audio, open_recognizer("pocketsphinx"))
        n = len(truth.split())
        errors += word_error_rate(truth, transcript.text) * n
        words += n
        assert transcript.engine == "pocketsphinx" and transcript.words
    assert words > 50
    assert errors / words <= 0.15, errors / words


def test_silence_and_room_noise_give_no_words() -> None:
    for name in ("silence.flac", "room-noise.flac"):
        transcript = transcribe_file(FIXTURES / name, open_recognizer("pocketsphinx"))
        assert len(transcript.words) <= 1, (name, transcript.text)


def test_text_reads_as_sentences() -> None:
    words = [Word("i", 0.0, 0.2, 1), Word("am", 0.2, 0.4, 1), Word("here", 0.4, 0.8, 1),
             Word("thank", 2.0, 2.3, 1), Word("you", 2.3, 2.5, 1)]  # fmt: skip
    assert readable(words) == "I am here. Thank you."


def decode_pcm16k(path: Path) -> bytes:
    """16 kHz mono s16le, what recognizers take."""
    return (np.clip(decode(path, 16000), -1, 1) * 32767).astype("<i2").tobytes()


def test_vosk_streams_a_real_model_with_word_times(tmp_path: Path) -> None:
    # Korean speech from espeak-ng's Korean voice, for the Korean model.
    profile = VoiceProfile(name="ko", engine="espeak", voice="ko", rate_wpm=150)
    samples = open_engine(profile).synthesize("안녕하세요. 오늘은 날씨가 좋습니다.")
    audio = tmp_path / "ko.wav"
    write_audio(samples * 0.8, 22050, audio, "wav", "ko")
    recognizer = VoskRecognizer(KO_MODEL)
    pcm16k = decode_pcm16k(audio)
    partials = []
    for start in range(0, len(pcm16k), 3200):  # 0.1 s at a time, as a microphone gives it
        recognizer.accept(pcm16k[start : start + 3200])
        partials.append(recognizer.partial())
    # Words appear while the audio is still coming, and the final words include them.
    heard_early = [p for p in partials[: len(partials) * 3 // 4] if p]
    assert heard_early, partials
    transcript = recognizer.finish()
    assert transcript.engine == "vosk" and transcript.words, transcript
    assert set(heard_early[-1].split()) & {w.word for w in transcript.words}
    times = [(w.start_s, w.end_s) for w in transcript.words]
    assert all(start < end for start, end in times)
    assert times == sorted(times) and times[-1][1] <= samples.size / 22050 + 0.5
    assert all(0 <= w.confidence <= 1 for w in transcript.words)
    silent = transcribe_file(FIXTURES / "silence.flac", VoskRecognizer(KO_MODEL))
    assert silent.text == "" and silent.words == []


def test_vosk_model_lookup_and_a_bad_model_folder(tmp_path: Path, monkeypatch) -> None:
    assert find_vosk_model(str(KO_MODEL)) == KO_MODEL
    monkeypatch.setenv("SELFKIND_VOSK_MODEL", str(KO_MODEL))
    assert open_recognizer().name == "vosk"
    broken = tmp_path / "model"
    (broken / "am").mkdir(parents=True)
    with pytest.raises(SetupError, match="missing am/final.mdl, conf/model.conf"):
        find_vosk_model(str(broken))
    monkeypatch.delenv("SELFKIND_VOSK_MODEL")
    # No Vosk model installed: Whisper if it is installed, else the PocketSphinx fallback.
    expected = "whisper" if find_whisper_model() is not None else "pocketsphinx"
    assert open_recognizer().name == expected


def test_transcribe_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "broken.mp3"
    bad.write_bytes(b"not audio at all")
    good = FIXTURES / "reflection-2.flac"
    code, out, err = cli(capsys, "transcribe", str(bad), str(good), "--json", "--engine",
                         "pocketsphinx")  # fmt: skip
    assert code == 1 and len(err.strip().splitlines()) == 1 and "broken.mp3" in err
    result = json.loads(out)
    assert [r["file"] for r in result] == [str(good)]
    assert result[0]["words"][0]["start_s"] >= 0 and "tired" in result[0]["text"]


@pytest.mark.skipif(
    not os.environ.get("SELFKIND_VOSK_MODEL"),
    reason="English Vosk accuracy needs SELFKIND_VOSK_MODEL pointing at an English model",
)
def test_vosk_english_word_error_rate() -> None:
    errors = words = 0
    for audio in sorted(FIXTURES.glob("reflection-*.flac")):
        truth = audio.with_suffix(".txt").read_text().strip()
        transcript = transcribe_file(audio, open_recognizer("vosk"))
        errors += word_error_rate(truth, transcript.text) * len(truth.split())
        words += len(truth.split())
    assert errors / words <= 0.15


def _damaged_aac(path: Path, duration_s: float = 15.0) -> Path:
    """AAC whose every frame has its header intact and its payload scrambled: ffmpeg tries
    each frame and writes an error line for it (well over 64 KiB, a pipe's buffer). The
    noise is seeded: unseeded, what ffmpeg wrote ranged from 53 KB to 159 KB (158 KB now)."""
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i",
         f"anoisesrc=r=48000:a=0.1:d={duration_s}:seed=2", "-ac", "1", "-c:a", "aac", "-b:a", "64k",
         "-f", "adts", str(path)],
        check=True,
    )  # fmt: skip
    data = bytearray(path.read_bytes())
    noise = np.random.default_rng(1)
    start = 0
    while start + 7 <= len(data):
        length = ((data[start + 3] & 3) << 11) | (data[start + 4] << 3) | (data[start + 5] >> 5)
        data[start + 7 : start + length] = noise.integers(
            0, 256, length - 7, dtype=np.uint8
        ).tobytes()
        start += length
    path.write_bytes(bytes(data))
    return path


def test_a_damaged_file_that_fills_ffmpegs_error_pipe_does_not_hang(tmp_path: Path) -> None:
    """Before ffmpeg's errors went to a file, a reader of its stdout waited for ever once
    ffmpeg had written 64 KiB to a stderr pipe nobody read."""
    damaged = _damaged_aac(tmp_path / "damaged.aac")
    errors = subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-i", str(damaged), "-f", "s16le", "-"],
        capture_output=True, timeout=60,
    ).stderr  # fmt: skip
    assert len(errors) > 64 * 1024  # the premise: more than a pipe holds
    good = FIXTURES / "reflection-6.flac"
    result = subprocess.run(
        [sys.executable, "-m", "selfkind", "transcribe", "--engine", "pocketsphinx",
         str(damaged), str(tmp_path / "missing.wav"), str(good)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 1 and "Traceback" not in result.stderr
    damaged_line, missing_line = result.stderr.strip().splitlines()
    assert damaged_line.startswith(f"selfkind: {damaged}: not readable as audio")
    assert missing_line == f"selfkind: {tmp_path / 'missing.wav'}: no such file"
    assert "ffmpeg is missing" not in result.stderr
    assert "listening" in result.stdout.lower()  # the good one after them, transcribed
