"""Spoken reflections: a real PulseAudio source as the microphone, PortAudio reading it,
the recognizers transcribing (Whisper by default when installed; PocketSphinx and Vosk where
named), SQLite on disk keeping the result. Accuracy through the microphone is measured on
real people's recordings (tests/speech.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from selfkind.dsp import Decimator
from selfkind.engines import open_engine
from selfkind.errors import SetupError
from selfkind.journal.store import Journal
from selfkind.listen.listener import Listener
from selfkind.listen.recognizers import open_recognizer, whisper
from selfkind.listen.recognizers.vosk import VoskRecognizer
from selfkind.listen.recognizers.worker import RecognizerWorker
from selfkind.listen.recording import PARTIAL_SUFFIX, Context
from selfkind.listen.transcribe import transcribe_file
from selfkind.listen.vad import VoiceActivity
from selfkind.render import write_audio
from selfkind.sounds import listen_cue
from selfkind.voices import VoiceProfile

from .conftest import (
    FIXTURES,
    KO_MODEL,
    SESSION_RATE_HZ,
    Recorder,
    decode,
    found_at,
    run,
    word_error_rate,
)
from .soundserver import PipeMicrophone
from .speech import FIXTURES as SPEECH_FIXTURES
from .speech import decode_16k
from .speech import word_error_rate as pooled_word_error_rate
from .test_guide import _end_in_terminal, _read_until, _spawn_in_terminal
from .test_models import made_up_model

MIC_RATE_HZ = 16000


def _fixture(name: str) -> tuple[np.ndarray, str]:
    audio = FIXTURES / f"{name}.flac"
    text_file = audio.with_suffix(".txt")
    return decode(audio, MIC_RATE_HZ), text_file.read_text().strip() if text_file.exists() else ""


def _human(*names: str, pause_s: float = 1.0) -> tuple[np.ndarray, str, float]:
    """Real people's recordings joined with thoughtful pauses: (16 kHz samples, true text,
    seconds from the start to the end of the last one). The recordings have about half a
    second of room sound at each end, so the default makes pauses of about 2 s between
    the words."""
    pause = np.zeros(round(pause_s * MIC_RATE_HZ), np.float32)
    pieces: list[np.ndarray] = []
    for name in names:
        pieces += [decode_16k(SPEECH_FIXTURES / name), pause]
    samples = np.concatenate(pieces[:-1])
    truth = " ".join((SPEECH_FIXTURES / name).with_suffix(".txt").read_text().strip()
                     for name in names)  # fmt: skip
    return samples, truth, samples.size / MIC_RATE_HZ


WHISPER = whisper.built_in_model() is not None
needs_whisper = pytest.mark.skipif(not WHISPER, reason="selfkind[whisper] is not installed")


def _blocks(samples: np.ndarray, block_s: float = 0.1) -> list[np.ndarray]:
    n = round(block_s * MIC_RATE_HZ)
    return [samples[i : i + n] for i in range(0, samples.size, n)]


def _end_of_speech_s(samples: np.ndarray, activity: VoiceActivity) -> float | None:
    for index, block in enumerate(_blocks(samples)):
        if activity.feed(block):
            return (index + 1) * 0.1
    return None


def test_voice_activity_ends_three_seconds_after_speech() -> None:
    speech, _ = _fixture("reflection-1")
    room, _ = _fixture("room-noise")
    quiet = np.tile(room, 3)  # 9 s of room sound
    samples = np.concatenate([room[:MIC_RATE_HZ], speech, quiet])
    last_loud = MIC_RATE_HZ + int(np.flatnonzero(np.abs(speech) > 0.02)[-1])
    ended_s = _end_of_speech_s(samples, VoiceActivity(end_silence_s=3.0))
    assert ended_s is not None
    assert 2.9 <= ended_s - last_loud / MIC_RATE_HZ <= 3.4, ended_s


def test_room_sound_and_a_click_are_not_speech() -> None:
    room, _ = _fixture("room-noise")
    assert _end_of_speech_s(np.tile(room, 4), VoiceActivity(end_silence_s=1.0)) is None
    click = np.tile(room, 4).copy()
    click[MIC_RATE_HZ : MIC_RATE_HZ + 800] += 0.5  # 50 ms knock on the table
    assert _end_of_speech_s(click, VoiceActivity(end_silence_s=1.0)) is None


def test_decimator_keeps_speech_band_and_is_block_size_independent() -> None:
    t = np.arange(48000) / 48000
    tone = (0.5 * np.sin(2 * np.pi * 1000 * t) + 0.5 * np.sin(2 * np.pi * 20000 * t)).astype(
        np.float32
    )
    whole = Decimator(3).process(tone)
    pieces = Decimator(3)
    in_blocks = np.concatenate([pieces.process(tone[i : i + 777]) for i in range(0, 48000, 777)])
    assert whole.size == in_blocks.size == 16000
    np.testing.assert_allclose(whole, in_blocks, atol=1e-5)
    settled = whole[1000:]
    # The 1 kHz tone passes at its level; the 20 kHz one (above 8 kHz) is gone, not folded.
    assert abs(np.sqrt(2) * np.sqrt(np.mean(settled**2)) - 0.5) < 0.02


def test_recognizer_worker_matches_the_engine_in_process() -> None:
    audio = FIXTURES / "reflection-2.flac"
    local = transcribe_file(audio, open_recognizer("pocketsphinx"))
    worker = RecognizerWorker("pocketsphinx")
    try:
        remote = transcribe_file(audio, worker.new())
        again = transcribe_file(audio, worker.new())  # one worker serves many utterances
    finally:
        worker.close()
    assert remote.text == local.text == again.text and remote.words == local.words
    broken = RecognizerWorker("vosk", str(FIXTURES))  # not a model folder
    try:
        with pytest.raises(SetupError, match="not a complete Vosk model"):
            broken.new()
    finally:
        broken.close()


def _start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "selfkind", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _wait_for_line(process: subprocess.Popen[str], wanted: str, timeout_s: float) -> list[str]:
    """Lines of stdout up to and including the first that contains ``wanted``."""
    assert process.stdout is not None
    lines: list[str] = []
    found = threading.Event()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            if wanted in line:
                found.set()
                return

    threading.Thread(target=read, daemon=True).start()
    assert found.wait(timeout_s), f"no {wanted!r} in {lines}"
    return lines


@needs_whisper
@pytest.mark.live_s(19)
def test_reflect_keeps_audio_and_transcript_in_the_journal(
    microphone: PipeMicrophone, tmp_path: Path
) -> None:
    """A real person, with a 2 s thoughtful pause, into the microphone of `selfkind
    reflect`: listening ends 3 s after the last word (not in the pause), and the journal
    keeps Whisper's text of it at no more than 15 % word errors."""
    speech, truth, spoken_s = _human("jfk.flac", "goforward.wav")
    journal_path = tmp_path / "journal" / "journal.sqlite3"
    process = _start("reflect", "--prompt", "How are you, really?", "--journal", str(journal_path))
    _wait_for_line(process, "Listening", 20)
    time.sleep(0.5)
    said_at = time.monotonic()
    microphone.say(speech)
    out, err = process.communicate(timeout=60)
    # It ended by itself: the speech, about three seconds of quiet, and little more.
    took_s = time.monotonic() - said_at
    assert process.returncode == 0, err
    assert "Transcribing with" not in err  # the best engine is here: no hint
    last_word_s = spoken_s - 0.5  # goforward.wav ends in half a second of room sound
    assert last_word_s + 2.8 < took_s < last_word_s + 4.5, (last_word_s, took_s)
    assert "Kept in your journal as entry 1" in out
    with Journal(journal_path) as journal:
        (entry,) = journal.entries()
        audio = journal.audio_path(entry)
    assert entry.prompt == "How are you, really?" and entry.status == "done"
    assert entry.engine == "whisper" and entry.words
    assert pooled_word_error_rate([(truth, entry.transcript)]) <= 0.15, entry.transcript
    assert entry.transcript[0].isupper() and "." in entry.transcript  # Whisper's own writing
    # Not a terminal (a log, perhaps): the number, never what was said.
    assert "Kept in your journal as entry 1.\n" in out and entry.transcript not in out
    assert audio is not None and audio.suffix == ".flac"
    assert oct(audio.stat().st_mode & 0o777) == "0o600"
    kept = decode(audio, MIC_RATE_HZ)
    assert abs(kept.size / MIC_RATE_HZ - entry.duration_s) < 0.05
    assert found_at(speech, kept) is not None  # the speech itself, as it was said
    assert not list(journal_path.parent.glob(f"audio/*{PARTIAL_SUFFIX}"))


def test_silence_keeps_nothing(microphone: PipeMicrophone, tmp_path: Path) -> None:
    journal_path = tmp_path / "journal.sqlite3"
    code, out, err = run("reflect", "--max", "2s", "--journal", str(journal_path))
    assert code == 0, err
    assert "Nothing was heard" in out
    with Journal(journal_path) as journal:
        assert journal.entries() == []
        assert not any(journal.audio_dir.iterdir())


@pytest.mark.live_s(10)
def test_a_killed_recording_is_recovered_as_a_pending_entry(
    microphone: PipeMicrophone, tmp_path: Path
) -> None:
    speech, truth = _fixture("reflection-1")
    journal_path = tmp_path / "journal.sqlite3"
    process = _start("reflect", "--prompt", "What do you need?", "--journal", str(journal_path))
    _wait_for_line(process, "Listening", 20)
    time.sleep(0.3)
    # Said once, then again: the kill comes 1.5 s into the second saying, so only its first
    # 2.5 s are fed (the rest would only be waited for after the kill).
    microphone.say(np.concatenate([speech, speech[: round(2.5 * MIC_RATE_HZ)]]))
    time.sleep(speech.size / MIC_RATE_HZ + 1.5)
    partials = list((journal_path.parent / "audio").glob(f"*{PARTIAL_SUFFIX}"))
    assert len(partials) == 1
    # Another selfkind running now must leave a recording in progress alone.
    code, out, _ = run("journal", "list", "--journal", str(journal_path))
    assert code == 0 and out.startswith("Your journal is empty.") and partials[0].exists()
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=10)
    microphone.spoken.wait(20)

    code, out, err = run("journal", "list", "--journal", str(journal_path))
    assert code == 0
    assert "kept as journal entry 1" in err and "(pending)" in out
    with Journal(journal_path) as journal:
        (entry,) = journal.entries()
        audio = journal.audio_path(entry)
    assert entry.prompt == "What do you need?" and entry.status == "pending"
    assert audio is not None and audio.exists()
    # Everything up to the kill is there, less at most a second.
    assert entry.duration_s >= speech.size / MIC_RATE_HZ + 0.5
    code, out, err = run("journal", "transcribe", "--pending", "--journal", str(journal_path))
    assert code == 0, err
    with Journal(journal_path) as journal:
        (entry,) = journal.entries()
    assert entry.status == "done"
    # The first saying is all there; the second was cut off by the kill.
    first = " ".join(entry.transcript.split()[: len(truth.split())])
    assert word_error_rate(truth, first) <= 0.25, entry.transcript


GUIDED = """---
title: Listening Test
---
# Opening
Take a breath.

[reflect 40s] What would you say to a close friend?

Thank you.
"""


def _start_guide(tmp_path: Path) -> tuple[subprocess.Popen[str], Path]:
    """`selfkind guide` on GUIDED with its own journal, not on a terminal."""
    script = tmp_path / "listening.md"
    script.write_text(GUIDED)
    journal_path = tmp_path / "journal.sqlite3"
    process = _start("guide", str(script), "--delay", "0", "--journal", str(journal_path))
    return process, journal_path


@needs_whisper
@pytest.mark.live_s(32)
def test_guide_listens_at_a_reflection_and_moves_on_when_you_finish(
    sound_server: str, microphone: PipeMicrophone, tmp_path: Path
) -> None:
    """A real person answers the guide's prompt: the session moves on when they finish,
    and the journal keeps Whisper's text at no more than 15 % word errors."""
    speech, truth, _ = _human("jfk.flac")
    recorder = Recorder(sound_server)
    began = time.monotonic()
    process, journal_path = _start_guide(tmp_path)
    before = _wait_for_line(process, "(listening)", 60)
    assert any("close friend?" in line for line in before)
    assert any("listens through your microphone" in line for line in before), before
    time.sleep(1.0)  # after the soft cue, as a person would
    microphone.say(speech)
    out, err = process.communicate(timeout=60)
    heard = recorder.stop()
    assert process.returncode == 0, err
    # The 40 s reflection ended when the speaker did, and the session went on.
    assert time.monotonic() - began < 35
    # The soft cues sounded: rising as listening began, falling as it ended, in that order.
    opening = found_at(listen_cue(SESSION_RATE_HZ, True), heard)
    closing = found_at(listen_cue(SESSION_RATE_HZ, False), heard)
    assert opening is not None and closing is not None and opening < closing
    assert "Kept in your journal (entry 1)" in out
    assert out.index("Kept in your journal") < out.index("Thank you.")
    assert "session has ended" in out and "private journal (1 entry)" in out
    with Journal(journal_path) as journal:
        (entry,) = journal.entries()
        audio = journal.audio_path(entry)
    assert entry.practice == "Listening Test"
    assert entry.prompt == "What would you say to a close friend?"
    assert entry.session_id and entry.status == "done"
    assert entry.engine == "whisper"
    assert pooled_word_error_rate([(truth, entry.transcript)]) <= 0.15, entry.transcript
    assert "Kept in your journal (entry 1).\n" in out and entry.transcript not in out
    assert audio is not None and decode(audio, MIC_RATE_HZ).size > speech.size


@pytest.mark.live_s(14)
def test_guide_without_a_microphone_goes_on_quietly(sound_server: str, tmp_path: Path) -> None:
    script = tmp_path / "short.md"
    # The reflection and what follows it; the opening words are not needed here.
    script.write_text(
        GUIDED.replace("[reflect 40s]", "[reflect 2s]").replace("Take a breath.\n", "")
    )
    journal_path = tmp_path / "journal.sqlite3"
    code, out, err = run(
        "guide", str(script), "--delay", "0", "--input-device", "no such microphone",
        "--journal", str(journal_path),
    )  # fmt: skip
    assert code == 0, err
    notes = [line for line in out.splitlines() if "no microphone" in line]
    assert len(notes) == 1 and "session goes on" in notes[0], out
    assert "session has ended" in out
    with Journal(journal_path) as journal:
        assert journal.entries() == []


@pytest.mark.live_s(25)
def test_back_and_enter_at_a_reflection(
    sound_server: str, microphone: PipeMicrophone, tmp_path: Path
) -> None:
    script = tmp_path / "keys.md"
    script.write_text(GUIDED)
    journal_path = tmp_path / "journal.sqlite3"
    pid, fd = _spawn_in_terminal(
        "guide", str(script), "--delay", "0", "--journal", str(journal_path)
    )
    try:
        assert "(listening)" in _read_until(fd, "(listening)", 60)
        # Back to hear the prompt again: that listening ends, and the step listens anew.
        time.sleep(1.0)
        os.write(fd, b"b")
        again = _read_until(fd, "Take a breath.", 10)
        assert "Take a breath." in again
        assert "(listening)" in _read_until(fd, "(listening)", 30)
        time.sleep(1.0)
        asked = time.monotonic()
        os.write(fd, b"\r")
        rest = _read_until(fd, "Thank you.", 10)
        # Long before the 40 s step would have ended by itself.
        assert "Thank you." in rest and time.monotonic() - asked < 6
        assert "Nothing was heard, so nothing was kept." in rest
        assert "session has ended" in _read_until(fd, "session has ended", 15)
    finally:
        code = _end_in_terminal(pid, 15)  # never waits for ever on a test that failed
        os.close(fd)
    assert code == 0


def test_reflect_without_a_microphone_says_what_to_do(tmp_path: Path) -> None:
    code, out, err = run(
        "reflect", "--input-device", "no such microphone", "--journal", str(tmp_path / "j.db")
    )
    assert code == 1 and out == ""
    assert len(err.strip().splitlines()) == 1 and "--input-device" in err


def test_ctrl_c_ends_a_reflection_and_keeps_it(microphone: PipeMicrophone, tmp_path: Path) -> None:
    speech, _ = _fixture("reflection-4")
    journal_path = tmp_path / "journal.sqlite3"
    process = _start("reflect", "--journal", str(journal_path))
    _wait_for_line(process, "Listening", 20)
    microphone.say(speech)
    time.sleep(2.5)  # in the middle of a sentence
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=30)
    microphone.spoken.wait(20)
    assert process.returncode == 0, err
    assert "Kept in your journal as entry 1" in out and "Traceback" not in err
    with Journal(journal_path) as journal:
        (entry,) = journal.entries()
    assert entry.status == "done" and entry.transcript and 2.0 < entry.duration_s < 4.0


@pytest.mark.live_s(8)
def test_without_a_recognizer_the_audio_waits_as_pending(
    microphone: PipeMicrophone, tmp_path: Path
) -> None:
    speech, truth = _fixture("reflection-5")
    journal_path = tmp_path / "journal.sqlite3"
    # A Vosk model folder that looks whole but is damaged: it fails only when loaded.
    damaged = made_up_model(tmp_path / "damaged-model")
    process = _start("reflect", "--model", str(damaged), "--journal", str(journal_path))
    _wait_for_line(process, "Listening", 20)
    microphone.say(speech)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert "to transcribe later" in out and "could not be loaded" in err
    assert "Traceback" not in err
    code, out, err = run(
        "journal", "transcribe", "--pending", "--engine", "pocketsphinx",
        "--journal", str(journal_path),
    )  # fmt: skip
    assert code == 0, err
    with Journal(journal_path) as journal:
        (entry,) = journal.entries()
    assert entry.status == "done" and word_error_rate(truth, entry.transcript) <= 0.25


def test_a_wrong_model_is_said_before_listening(tmp_path: Path) -> None:
    code, out, err = run("reflect", "--model", str(tmp_path / "nowhere"))
    assert code == 1 and "Listening" not in out
    assert "does not exist" in err and len(err.strip().splitlines()) == 1


@pytest.mark.live_s(7)
def test_reflect_with_vosk_streams_words_as_they_are_said(
    microphone: PipeMicrophone, tmp_path: Path
) -> None:
    """The live path (PortAudio microphone -> recording + recognizer thread -> journal) with
    Vosk: partial words arrive while the person is still speaking, then the entry is kept."""
    # Korean speech for the Korean model (the only Vosk model that can be fetched here).
    profile = VoiceProfile(name="ko", engine="espeak", voice="ko", rate_wpm=150)
    samples = open_engine(profile).synthesize("안녕하세요. 오늘은 날씨가 좋습니다.")
    wav = tmp_path / "ko.wav"
    write_audio(samples * 0.8, 22050, wav, "wav", "ko")
    journal_path = tmp_path / "journal.sqlite3"
    VoskRecognizer(KO_MODEL)  # the model loaded now (once per process), as the guide's worker does
    partials: list[tuple[bool, str]] = []  # (was the speaker still speaking?, words so far)
    listener = Listener(
        journal_path, lambda: VoskRecognizer(KO_MODEL), 30.0, Context(prompt="ko"),
        end_silence_s=1.5,
        on_partial=lambda text: partials.append((not microphone.spoken.is_set(), text)),
    )  # fmt: skip
    listener.start()  # the microphone is open before anything is said
    microphone.say(decode(wav, MIC_RATE_HZ))
    assert listener.done.wait(30) and listener.error is None, listener.error
    result = listener.result
    assert result is not None
    while_speaking = [text for speaking, text in partials if speaking and text]
    assert while_speaking, partials
    with Journal(journal_path) as journal:
        (entry,) = journal.entries()
    assert result.entry_id == entry.id and entry.engine == "vosk" and entry.words
    assert set(while_speaking[-1].split()) & {w["word"] for w in entry.words}
    assert all(0 <= w["start_s"] < w["end_s"] <= entry.duration_s for w in entry.words)


@pytest.mark.live_s(15)
def test_ctrl_c_in_the_guide_while_speaking_keeps_what_was_said(
    sound_server: str, microphone: PipeMicrophone, tmp_path: Path
) -> None:
    speech, _ = _fixture("reflection-6")
    process, journal_path = _start_guide(tmp_path)
    _wait_for_line(process, "(listening)", 60)
    time.sleep(1.0)
    microphone.say(speech)
    time.sleep(2.0)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=30)
    microphone.spoken.wait(20)
    assert process.returncode == 130, err
    assert "That is completely fine." in out and "Traceback" not in err
    assert "private journal (1 entry)" in out
    with Journal(journal_path) as journal:
        (entry,) = journal.entries()
    assert entry.status == "done" and entry.transcript  # the recognizer outlived the Ctrl-C


def test_an_end_silence_of_zero_is_refused() -> None:
    code, _, err = run("reflect", "--end-silence", "0s")
    assert code == 2 and "--end-silence" in err and "longer than zero" in err
