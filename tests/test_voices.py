"""Voice profiles and engines: espeak-ng through pyttsx3, and Piper, both real."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from selfkind import paths
from selfkind.cache import ClipCache
from selfkind.engines import open_engine
from selfkind.normalize import normalize_for_speech, ordinal_words
from selfkind.synth import SESSION_RATE_HZ, synthesize_script
from selfkind.voices import load_voice, voice_names

from .conftest import Recorder, cli, decode, rms_db

SENTENCE = "Let yourself settle, and notice one slow breath, moving in and moving out."


@pytest.fixture()
def user_voices() -> Iterator[Path]:
    """The user's own profile folder; profiles written there are removed afterwards."""
    folder = paths.user_voices_dir()
    folder.mkdir(parents=True, exist_ok=True)
    before = set(folder.iterdir())
    yield folder
    for path in set(folder.iterdir()) - before:
        path.unlink()


def test_the_three_shipped_profiles_exist() -> None:
    assert {"default", "gentle", "natural"} <= set(voice_names())
    assert load_voice("natural").engine == "piper"


@pytest.mark.parametrize("name", ["default", "gentle", "natural"])
def test_each_shipped_voice_speaks_a_sentence_of_plausible_length(name: str) -> None:
    engine = open_engine(load_voice(name))
    samples = engine.synthesize(SENTENCE)
    length_s = samples.size / engine.sample_rate_hz
    # 13 words at a meditative 90-170 words a minute, with room for the pauses at commas.
    assert 13 / 170 * 60 < length_s < 13 / 90 * 60 + 2, length_s
    assert rms_db(samples) > -40


def _length_s(profile_text: str, folder: Path, name: str) -> float:
    (folder / f"{name}.toml").write_text(profile_text)
    engine = open_engine(load_voice(name))
    return engine.synthesize(SENTENCE).size / engine.sample_rate_hz


def test_pace_settings_change_the_length_the_right_way(user_voices: Path) -> None:
    espeak = 'engine = "espeak"\nvoice = "gmw/en-us"\nrate_wpm = {}\n'
    slow, fast = (_length_s(espeak.format(r), user_voices, f"pace{r}") for r in (100, 200))
    assert slow > fast * 1.5
    piper = 'engine = "piper"\nvoice = "en_US-joe-medium"\nlength_scale = {}\n'
    unhurried, brisk = (
        _length_s(piper.format(s), user_voices, f"scale{i}") for i, s in enumerate((1.6, 0.9))
    )
    assert unhurried > brisk * 1.4


def test_the_cache_key_follows_the_profile(user_voices: Path, tmp_path: Path) -> None:
    cache = ClipCache(tmp_path)
    profile = 'description = "{}"\nengine = "espeak"\nvoice = "gmw/en-us"\nrate_wpm = {}\n'
    (user_voices / "mine.toml").write_text(profile.format("first", 130))
    assert synthesize_script([SENTENCE], load_voice("mine"), cache).synthesized == 1
    (user_voices / "mine.toml").write_text(profile.format("renamed", 130))
    assert synthesize_script([SENTENCE], load_voice("mine"), cache).synthesized == 0
    (user_voices / "mine.toml").write_text(profile.format("renamed", 150))
    assert synthesize_script([SENTENCE], load_voice("mine"), cache).synthesized == 1


def test_a_user_profile_overrides_a_shipped_one(user_voices: Path) -> None:
    (user_voices / "gentle.toml").write_text('engine = "espeak"\nvoice = "gmw/en-us"\n')
    assert load_voice("gentle").source == str(user_voices / "gentle.toml")


def test_a_malformed_profile_is_reported_at_its_line(
    user_voices: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = user_voices / "broken.toml"
    bad.write_text('engine = "espeak"\nvoice = "gmw/en-us"\nrate_wpm = "fast"\n')
    code, _, err = cli(capsys, "render", "self-compassion-break", "--voice", "broken")
    assert code == 2 and err.startswith(f"{bad}:3: 'rate_wpm' should be a whole number, not 'fast'")


def test_a_missing_model_says_what_to_install(
    user_voices: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (user_voices / "faraway.toml").write_text('engine = "piper"\nvoice = "en_GB-nobody-low"\n')
    code, out, _ = cli(capsys, "voices")
    line = next(row for row in out.splitlines() if row.startswith("faraway"))
    assert "not usable" in line and "pip install 'selfkind[neural]'" in line
    code, _, err = cli(capsys, "render", "self-compassion-break", "--voice", "faraway")
    assert code == 1 and len(err.strip().splitlines()) == 1
    assert "selfkind[neural]" in err
    code, _, err = cli(capsys, "voices", "preview", "nobody-at-all")
    assert code == 2 and "unknown voice" in err


def test_preview_writes_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "natural.wav"
    code, stdout, _ = cli(capsys, "voices", "preview", "natural", "A short hello.", "-o", str(out))
    assert code == 0 and stdout.strip() == str(out)
    samples = decode(out)
    assert 0.8 < samples.size / SESSION_RATE_HZ < 5 and rms_db(samples) > -35


def test_preview_plays_on_the_sound_card(
    sound_server: str, capsys: pytest.CaptureFixture[str]
) -> None:
    recorder = Recorder(sound_server)
    time.sleep(0.3)
    code, _, err = cli(capsys, "voices", "preview", "default", "Hello, and welcome.")
    time.sleep(0.3)
    heard = recorder.stop()
    assert code == 0, err
    assert rms_db(heard) > -45, "nothing reached the sound server"


def test_text_is_normalized_for_reading_aloud() -> None:
    assert normalize_for_speech("Breathing in... and out.") == "Breathing in, and out."
    assert normalize_for_speech("Take 3 breaths — slowly.") == "Take three breaths, slowly."
    assert normalize_for_speech("the 21st time, 50% of 1,250") == (
        "the twenty-first time, fifty percent of one thousand two hundred fifty"
    )
    assert normalize_for_speech("“Kind” words 🙂 help") == '"Kind" words help'
    assert ordinal_words(12) == "twelfth" and ordinal_words(40) == "fortieth"


def test_awkward_text_does_not_break_either_engine() -> None:
    awkward = "“Rest” here… 🙂 — breathe 2 times 😊"
    for name in ("default", "natural"):
        spoken = synthesize_script([awkward], load_voice(name), ClipCache(paths.clip_cache_dir()))
        assert spoken.n_frames[awkward] > 0.5 * SESSION_RATE_HZ
