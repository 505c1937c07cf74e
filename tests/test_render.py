"""Rendering with the real engines: pyttsx3 + espeak-ng for speech, ffmpeg for files."""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path

import mutagen
import numpy as np
import pyloudnorm
import pytest
from mutagen.id3 import ID3

from selfkind.engines.espeak import EspeakEngine
from selfkind.render import Progress, load_script, prepare_session, render_session
from selfkind.voices import load_voice

from .conftest import SESSION_RATE_HZ, cli, decode, ffmpeg_loudness, load_manifest, rms_db

SCRIPT = """---
title: Test Session
background: none
---
# Arriving
Welcome. Let yourself settle, in whatever way feels right today.
[pause 3s]
Notice the breath moving in, and moving out, at its own pace.
[pause 2s..6s]
[bell]
# Kindness
You might offer yourself a few kind words, the way you would to a friend.
[reflect 4s] What would you like to hear right now?

Thank you for taking this time.
"""


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict:
    folder = tmp_path_factory.mktemp("render")
    script = folder / "session.md"
    script.write_text(SCRIPT, encoding="utf-8")
    out = folder / "out" / "session.wav"
    session = prepare_session(load_script(str(script)))
    result = render_session(session, out, "wav")
    return {
        "folder": folder,
        "script": script,
        "result": result,
        "samples": decode(out),
        "manifest": load_manifest(result.manifest),
    }


def test_outputs_are_written_side_by_side(rendered: dict) -> None:
    result = rendered["result"]
    assert [p.name for p in (result.audio, result.captions, result.manifest)] == [
        "session.wav",
        "session.vtt",
        "session.json",
    ]
    assert sorted(p.name for p in result.audio.parent.iterdir()) == [
        "session.json",
        "session.vtt",
        "session.wav",
    ]


def test_decoded_length_matches_the_manifest(rendered: dict) -> None:
    manifest = rendered["manifest"]
    assert rendered["samples"].size == round(manifest["duration_s"] * SESSION_RATE_HZ)
    assert manifest["events"][-1]["end_s"] <= manifest["duration_s"]


def test_manifest_lists_every_event_with_its_source_line(rendered: dict) -> None:
    events = rendered["manifest"]["events"]
    kinds = [(e["kind"], e["line"]) for e in events if e["kind"] != "pause"]
    assert kinds == [
        ("section", 5), ("speech", 6), ("speech", 6), ("speech", 8), ("bell", 10),
        ("section", 11), ("speech", 12), ("speech", 13), ("reflect", 13), ("speech", 15),
    ]  # fmt: skip
    assert all({"kind", "start_s", "end_s", "text", "line"} <= e.keys() for e in events)


def test_pauses_are_silent_and_speech_is_heard(rendered: dict) -> None:
    samples = rendered["samples"]
    for event in rendered["manifest"]["events"]:
        start, end = (
            round(event["start_s"] * SESSION_RATE_HZ),
            round(event["end_s"] * SESSION_RATE_HZ),
        )
        if event["kind"] in ("pause", "reflect") and not _after_bell(rendered, event):
            inner = samples[start + SESSION_RATE_HZ // 10 : end - SESSION_RATE_HZ // 10]
            assert rms_db(inner) < -70, event
        if event["kind"] == "speech":
            assert rms_db(samples[start:end]) > -30, event


def _after_bell(rendered: dict, event: dict) -> bool:
    """A bell rings on for a while after its event: the pause that follows it is not silent."""
    bells = [e for e in rendered["manifest"]["events"] if e["kind"] == "bell"]
    return any(b["start_s"] <= event["start_s"] <= b["start_s"] + 16 for b in bells)


def test_bell_rings(rendered: dict) -> None:
    bell = next(e for e in rendered["manifest"]["events"] if e["kind"] == "bell")
    start = round(bell["start_s"] * SESSION_RATE_HZ)
    assert rms_db(rendered["samples"][start : start + SESSION_RATE_HZ]) > -30


def test_loudness_and_true_peak_meet_the_spoken_word_target(rendered: dict) -> None:
    samples = rendered["samples"].astype(np.float64)
    assert pyloudnorm.Meter(SESSION_RATE_HZ).integrated_loudness(samples) == pytest.approx(
        -16, abs=1
    )
    integrated, peak = ffmpeg_loudness(rendered["result"].audio)
    assert integrated == pytest.approx(-16, abs=1)
    assert peak <= -1.0


def test_no_clicks_at_clip_boundaries(rendered: dict) -> None:
    samples = rendered["samples"]
    for event in rendered["manifest"]["events"]:
        if event["kind"] == "speech":
            for edge_s in (event["start_s"], event["end_s"]):
                edge = round(edge_s * SESSION_RATE_HZ)
                around = samples[max(edge - 40, 0) : edge + 40]
                # A click is a step from one sample to the next; clip edges have none.
                assert np.abs(np.diff(around)).max() < 0.02, edge_s


def test_captions_follow_the_manifest_within_50ms(rendered: dict) -> None:
    vtt = rendered["result"].captions.read_text(encoding="utf-8")
    assert vtt.startswith("WEBVTT")
    cues = re.findall(
        r"(\d\d):(\d\d):(\d\d\.\d\d\d) --> (\d\d):(\d\d):(\d\d\.\d\d\d)\n(.+(?:\n.+)?)", vtt
    )
    # Bells and reflections have cues of their own (see test_listening); these sentences
    # are short enough for one cue each.
    cues = [cue for cue in cues if not cue[6].startswith("[")]
    speech = [e for e in rendered["manifest"]["events"] if e["kind"] == "speech"]
    assert len(cues) == len(speech)
    for cue, event in zip(cues, speech, strict=False):
        start = int(cue[0]) * 3600 + int(cue[1]) * 60 + float(cue[2])
        end = int(cue[3]) * 3600 + int(cue[4]) * 60 + float(cue[5])
        assert abs(start - event["start_s"]) <= 0.05 and abs(end - event["end_s"]) <= 0.05
        assert cue[6].replace("\n", " ") == event["text"]


def test_speech_is_where_the_captions_say(rendered: dict) -> None:
    """The audio's own onsets, found by energy, agree with the cue starts within 50 ms."""
    samples = rendered["samples"]
    for event in rendered["manifest"]["events"]:
        if event["kind"] != "speech" or _after_bell(rendered, event):
            continue
        start = round(event["start_s"] * SESSION_RATE_HZ)
        window = samples[start - SESSION_RATE_HZ // 2 : start + SESSION_RATE_HZ // 2]
        onset = np.flatnonzero(np.abs(window) > 10 ** (-40 / 20))[0] - SESSION_RATE_HZ // 2
        assert abs(onset) / SESSION_RATE_HZ <= 0.05


def test_rendering_again_gives_the_same_samples(rendered: dict) -> None:
    again = rendered["folder"] / "again" / "session.wav"
    result = render_session(prepare_session(load_script(str(rendered["script"]))), again, "wav")
    assert result.synthesized == 0
    assert np.array_equal(decode(again), rendered["samples"])


def test_editing_one_line_synthesizes_only_that_line(rendered: dict) -> None:
    edited = rendered["folder"] / "edited.md"
    edited.write_text(SCRIPT.replace("Thank you for taking", "Thank you so much for taking"))
    session = prepare_session(load_script(str(edited)))
    assert session.synthesized == 1


def test_a_target_duration_is_met_in_the_decoded_file(tmp_path: Path, rendered: dict) -> None:
    out = tmp_path / "fitted.flac"
    session = prepare_session(load_script(str(rendered["script"])), duration_s=50)
    render_session(session, out, "flac")
    assert decode(out).size / SESSION_RATE_HZ == pytest.approx(50, abs=0.1)


def test_mp3_has_title_and_chapters_and_ogg_has_title(tmp_path: Path, rendered: dict) -> None:
    session = prepare_session(load_script(str(rendered["script"])))
    render_session(session, tmp_path / "s.mp3", "mp3")
    tags = ID3(tmp_path / "s.mp3")
    title = f"Test Session ({round(session.timeline.duration_s)} s, default)"
    assert str(tags["TIT2"]) == title
    assert (str(tags["TALB"]), str(tags["TPE1"]), str(tags["TCON"])) == (
        "selfkind", "default", "Meditation"
    )  # fmt: skip
    chapters = sorted(tags.getall("CHAP"), key=lambda c: c.start_time)
    titles = [str(c.sub_frames["TIT2"]) for c in chapters]
    assert titles == ["Arriving", "Kindness"]
    sections = [e for e in rendered["manifest"]["events"] if e["kind"] == "section"]
    assert chapters[1].start_time == round(sections[1]["start_s"] * 1000)
    integrated, peak = ffmpeg_loudness(tmp_path / "s.mp3")
    assert integrated == pytest.approx(-16, abs=1) and peak <= -1.0
    render_session(session, tmp_path / "s.ogg", "ogg")
    assert mutagen.File(tmp_path / "s.ogg")["title"] == [title]


def test_background_sits_under_the_voice_and_ducks(tmp_path: Path) -> None:
    """Measured on the decoded files: the same session with and without its bed (the clips
    come from one cache, so the voice is identical) gives the bed alone as the difference,
    whose level while the voice speaks is compared with its level in the pause."""
    body = "A short sentence to duck under.\n[pause 8s]\nAnd another one, spoken a little later.\n"
    levels = {}
    for bed in ("pink-noise", "none"):
        script = tmp_path / f"{bed}.md"
        script.write_text(f"---\nbackground: {bed}\n---\n{body}")
        session = prepare_session(load_script(str(script)))
        render_session(session, tmp_path / f"{bed}.wav", "wav")
        levels[bed] = decode(tmp_path / f"{bed}.wav")
    bed_only = levels["pink-noise"] - levels["none"]
    speech = session.timeline.of_kind("speech")[0]
    pause = next(e for e in session.timeline.of_kind("pause") if e.line == 5)
    rate = SESSION_RATE_HZ
    in_pause = bed_only[pause.start_frame + 3 * rate : pause.end_frame - 2 * rate]
    under_voice = bed_only[speech.start_frame + rate // 2 : speech.end_frame - rate // 2]
    voice = levels["none"][speech.start_frame : speech.end_frame]
    assert -60 < rms_db(in_pause) < rms_db(voice) - 20  # audible, but well under the voice
    assert rms_db(under_voice) <= rms_db(in_pause) - 6  # ducked (8 dB asked) while it speaks


def test_an_interrupted_render_leaves_nothing_behind(tmp_path: Path, rendered: dict) -> None:
    class StopHalfway(Progress):
        def advance(self, amount: int = 1) -> None:
            raise KeyboardInterrupt

    session = prepare_session(load_script(str(rendered["script"])))
    with pytest.raises(KeyboardInterrupt):
        render_session(session, tmp_path / "out" / "s.mp3", "mp3", StopHalfway())
    assert list((tmp_path / "out").iterdir()) == []


def test_espeak_waits_for_long_clips_and_keeps_stdout_clean(
    capfd: pytest.CaptureFixture[str],
) -> None:
    engine = EspeakEngine(load_voice("default"))
    long_text = " ".join(["This sentence is spoken slowly and kindly."] * 12)
    long_clip = engine.synthesize(long_text)
    short_clip = engine.synthesize("Yes.")
    # The long clip was complete when returned (not left to land in the next call's file).
    assert long_clip.size / engine.sample_rate_hz > 20
    assert short_clip.size / engine.sample_rate_hz < 2
    assert "Audio saved" not in capfd.readouterr().out


def test_a_clip_in_one_thread_leaves_what_another_prints_alone(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The guide makes its speech in a thread while the main one prints its notes and
    starts its screen. Silencing the driver by swapping sys.stdout lost those notes (and
    the screen found no terminal); every line printed meanwhile must arrive."""
    engine = EspeakEngine(load_voice("default"))
    done = threading.Event()

    def speak() -> None:
        engine.synthesize(" ".join(["A long and gentle sentence, spoken slowly."] * 12))
        done.set()

    speaker = threading.Thread(target=speak)
    speaker.start()
    printed = 0
    while not done.is_set():
        print(f"note {printed}")
        printed += 1
        time.sleep(0.001)
    speaker.join()
    out = capsys.readouterr().out
    assert printed >= 3  # some while the clip was made (few on a busy machine)
    assert out.count("note ") == printed
    assert "Audio saved" not in out


def test_bad_inputs_exit_2_with_a_location_and_no_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    cases = {
        "typo.md": ("Hello.\n[pase 5s]\n", "typo.md:2:1: unknown directive [pase 5s]; did you mean [pause]?"),
        "voice.md": ("---\nvoice: nobody\n---\nHi.\n", "voice.md:2:8: unknown voice 'nobody'"),
        "bed.md": ("---\nbackground: rain.ogg\n---\nHi.\n", "bed.md:2:13: background file 'rain.ogg' not found"),
        "long.md": ("---\nduration: 2h\n---\nHi.\n", "long.md:2:11: this script can last from"),
        "empty.md": ("\n\n", "empty.md:1:1: the script is empty"),
    }  # fmt: skip
    for name, (text, expected) in cases.items():
        (tmp_path / name).write_text(text)
        code, out, err = cli(capsys, "render", name)
        assert code == 2, name
        assert err.startswith(expected), err
        assert "Traceback" not in err
    (tmp_path / "binary.md").write_bytes(b"\x00\x01\x02")
    code, _, err = cli(capsys, "render", "binary.md")
    assert (code, err.split(":")[:3]) == (2, ["binary.md", "1", "1"])
    code, _, err = cli(capsys, "render", "self-compassion-break", "--duration", "2h")
    assert code == 2 and err.startswith("--duration: this script can last from")
    code, _, err = cli(capsys, "render", "missing.md")
    assert code == 2 and err.startswith("missing.md: no such file or built-in practice")
    code, _, err = cli(capsys, "render", "typo.md", "-o", "x.mp3", "--format", "wav")
    assert code == 2
    assert not (tmp_path / "out").exists()
    assert not list(tmp_path.glob("*.mp3")) and not list(tmp_path.glob("*.wav"))
