"""The listening experience, measured as a listener would: pace, breaths, bells, captions,
chapters and tags, on rendered files decoded with ffmpeg."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from selfkind.measure import loudness_trace, quiet_spans_s, voiced_s
from selfkind.script import parse_script
from selfkind.sentences import phrases, sentences
from selfkind.timeline import compile_timeline, utterances

from .conftest import FIXTURES, SESSION_RATE_HZ, cli, decode, load_manifest, rms_db, run
from .soundserver import PipeMicrophone

PACED = """---
title: Paced
background: none
---
Let yourself settle into a comfortable position, and let your eyes close. Notice that you are
breathing, without changing anything at all. This is a moment of kindness, just for you.
"""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("One. Two words! Three?", ["One.", "Two words!", "Three?"]),
        ('She said "Rest." Then go.', ['She said "Rest."', "Then go."]),
        ("Notice the warmth... and rest. Now", ["Notice the warmth... and rest.", "Now"]),
        ("Ask Dr. Lee. Then sit.", ["Ask Dr. Lee.", "Then sit."]),
        ("No   end", ["No end"]),
    ],
)
def test_sentences_end_where_a_reader_takes_a_breath(text: str, expected: list[str]) -> None:
    assert sentences(text) == expected


@pytest.mark.parametrize(
    ("sentence", "expected"),
    [
        ("If it feels right, rest a hand here.", ["If it feels right,", "rest a hand here."]),
        ("Breathe in: slowly and fully.", ["Breathe in:", "slowly and fully."]),
        ("So, breathe out.", ["So, breathe out."]),
        ("The warmth... the quiet.", ["The warmth...", "the quiet."]),
    ],
)
def test_phrases_rest_at_commas_colons_and_ellipses(sentence: str, expected: list[str]) -> None:
    assert phrases(sentence) == expected


def test_a_breath_goes_between_sentences_exactly() -> None:
    script = parse_script("One two. Three four.\n\nFive six.\n", "t.md")
    assert utterances(script) == ["One two.", "Three four.", "Five six."]
    frames = {text: 1000 + i for i, text in enumerate(utterances(script))}
    timeline = compile_timeline(script, frames, 1000, gap_s=1.5, breath_s=1.1)
    speech = timeline.of_kind("speech")
    assert [e.text for e in speech] == utterances(script)
    assert speech[1].start_frame - speech[0].end_frame == 1100  # a breath within a paragraph
    assert speech[2].start_frame - speech[1].end_frame == 1500  # the gap between paragraphs


def _render(tmp_path: Path, *options: str) -> tuple[dict, object]:
    script = tmp_path / "paced.md"
    script.write_text(PACED, encoding="utf-8")
    out = tmp_path / f"paced{len(options)}.wav"
    code, _, err = run("render", str(script), "-o", str(out), *options)
    assert code == 0, err
    return load_manifest(out.with_suffix(".json")), decode(out)


def _wpm(manifest: dict, audio) -> float:  # noqa: ANN001
    speech = [e for e in manifest["events"] if e["kind"] == "speech"]
    words = sum(len(e["text"].split()) for e in speech)
    spoken_s = sum(
        voiced_s(audio[round(e["start_s"] * SESSION_RATE_HZ) : round(e["end_s"] * SESSION_RATE_HZ)],
                 SESSION_RATE_HZ)
        for e in speech
    )  # fmt: skip
    return words / spoken_s * 60


def test_the_voice_is_unhurried_with_a_breath_between_sentences(tmp_path: Path) -> None:
    manifest, audio = _render(tmp_path)
    assert 110 <= _wpm(manifest, audio) <= 130
    speech = [e for e in manifest["events"] if e["kind"] == "speech"]
    assert len(speech) == 3
    # What is heard between two sentences: silence of a breath, 0.8 to 1.5 s.
    for before, after in zip(speech, speech[1:], strict=False):
        between = audio[round(before["end_s"] * SESSION_RATE_HZ) - 441 :
                        round(after["start_s"] * SESSION_RATE_HZ) + 441]  # fmt: skip
        longest = max(end - start for start, end in quiet_spans_s(between, SESSION_RATE_HZ, 0.5))
        assert 0.8 <= longest <= 1.5
    # Inside the first sentence, a rest at its comma: shorter than a breath, but heard.
    first = speech[0]
    inside = audio[
        round(first["start_s"] * SESSION_RATE_HZ) : round(first["end_s"] * SESSION_RATE_HZ)
    ]
    rests = quiet_spans_s(inside, SESSION_RATE_HZ, 0.25)
    assert rests and all(end - start < 0.8 for start, end in rests)


def test_pace_slows_the_voice_and_its_breaths(tmp_path: Path) -> None:
    normal, normal_audio = _render(tmp_path)
    slow, slow_audio = _render(tmp_path, "--pace", "0.9")
    assert _wpm(slow, slow_audio) < _wpm(normal, normal_audio) * 0.95
    assert slow["duration_s"] > normal["duration_s"]


def test_pace_out_of_range_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli(capsys, "render", "self-compassion-break", "--pace", "3")
    assert exited.value.code == 2
    assert "between 0.5 and 2.0" in capsys.readouterr().err


def test_voices_names_the_default_and_why() -> None:
    env_voice = os.environ.pop("SELFKIND_VOICE")
    try:
        code, out, _ = run("voices")
    finally:
        os.environ["SELFKIND_VOICE"] = env_voice
    assert code == 0
    assert "Default voice: natural (Piper is installed)" in out
    code, out, _ = run("voices")
    assert "Default voice: default (set by $SELFKIND_VOICE)" in out


BELLED = """---
title: Belled
background: none
---
Let yourself settle into a comfortable position, and let your eyes close. Notice that you are
breathing, without changing anything at all.
[pause 4s]
[bell]
[pause 10s]
This is a moment of kindness, just for you. Rest here for a while, as long as you like.
"""


def test_the_bell_is_softer_than_the_voice_and_swells_gently(tmp_path: Path) -> None:
    script = tmp_path / "belled.md"
    script.write_text(BELLED, encoding="utf-8")
    out = tmp_path / "belled.wav"
    code, _, err = run("render", str(script), "-o", str(out))
    assert code == 0, err
    manifest = load_manifest(out.with_suffix(".json"))
    trace = loudness_trace(out)
    speech = [(e["start_s"], e["end_s"]) for e in manifest["events"] if e["kind"] == "speech"]
    (bell,) = [e["start_s"] for e in manifest["events"] if e["kind"] == "bell"]
    voice_lufs = trace.loudest_short_term(speech)
    bell_lufs = trace.loudest_short_term([(bell, bell + 3.5)])
    assert voice_lufs - bell_lufs >= 3.0, (voice_lufs, bell_lufs)
    # A gentle attack: from the strike to 90% of its loudest 5 ms takes 30 ms or more.
    audio = decode(out)
    start = round(bell * SESSION_RATE_HZ)
    step = round(0.005 * SESSION_RATE_HZ)
    frames = audio[start : start + SESSION_RATE_HZ // step * step].reshape(-1, step)
    envelope = np.sqrt(np.mean(frames.astype(np.float64) ** 2, axis=1))
    rise_s = int(np.argmax(envelope >= 0.9 * envelope.max())) * 0.005
    assert rise_s >= 0.03, rise_s


def test_a_timer_bell_sounds_as_a_spoken_sessions_bell(tmp_path: Path) -> None:
    spoken = tmp_path / "spoken.md"
    spoken.write_text(BELLED, encoding="utf-8")
    timer_only = tmp_path / "timer.md"
    timer_only.write_text(
        "---\ntitle: Timer\n---\n[pause 4s]\n[bell]\n[pause 10s]\n", encoding="utf-8"
    )
    strikes = []
    for script in (spoken, timer_only):
        out = script.with_suffix(".wav")
        code, _, err = run("render", str(script), "-o", str(out))
        assert code == 0, err
        (bell,) = [e["start_s"] for e in load_manifest(out.with_suffix(".json"))["events"]
                   if e["kind"] == "bell"]  # fmt: skip
        start = round(bell * SESSION_RATE_HZ)
        strikes.append(decode(out)[start : start + 3 * SESSION_RATE_HZ])
    assert rms_db(strikes[0]) == pytest.approx(rms_db(strikes[1]), abs=0.2)


CAPTIONED = """---
title: Captioned
background: none
---
Welcome. You might offer yourself a few kind words, the way you would to a good friend who is
struggling today, gently and without any hurry.
[bell]
[reflect 3s] What would you like to hear?
"""


def _vtt_cues(path: Path) -> list[tuple[float, float, list[str]]]:
    def seconds(stamp: str) -> float:
        hours, minutes, secs = stamp.split(":")
        return int(hours) * 3600 + int(minutes) * 60 + float(secs)

    blocks = path.read_text(encoding="utf-8").strip().split("\n\n")[1:]
    out = []
    for block in blocks:
        _, times, *lines = block.split("\n")
        start, end = times.split(" --> ")
        out.append((seconds(start), seconds(end), lines))
    return out


def test_captions_show_a_sentence_at_a_time_in_two_short_lines(tmp_path: Path) -> None:
    script = tmp_path / "captioned.md"
    script.write_text(CAPTIONED, encoding="utf-8")
    out = tmp_path / "captioned.wav"
    code, _, err = run("render", str(script), "-o", str(out))
    assert code == 0, err
    cues = _vtt_cues(out.with_suffix(".vtt"))
    texts = [" ".join(lines) for _, _, lines in cues]
    assert texts[0] == "Welcome."
    # The long sentence is split at its commas, every piece at most two lines of 42.
    long_sentence = texts[1 : texts.index("[bell]")]
    assert " ".join(long_sentence).startswith("You might offer yourself a few kind words,")
    assert len(long_sentence) >= 2 and all(t.endswith((",", ".")) for t in long_sentence)
    assert all(len(lines) <= 2 and all(len(x) <= 42 for x in lines) for _, _, lines in cues)
    assert "[bell]" in texts
    assert "[reflect] What would you like to hear?" in texts
    assert all(a[1] <= b[0] + 1e-3 for a, b in zip(cues, cues[1:], strict=False))
    # Timed from the clips: quiet just before a sentence's cue, voice just after it starts.
    audio = decode(out)
    manifest = load_manifest(out.with_suffix(".json"))
    speech = [e for e in manifest["events"] if e["kind"] == "speech"]
    assert [c[0] for c in cues if c[2] == ["Welcome."]] == [
        pytest.approx(speech[0]["start_s"], abs=1e-3)
    ]
    for start_s, _, _ in cues[:2]:
        at = round(start_s * SESSION_RATE_HZ)
        assert rms_db(audio[at - 4410 : at - 441]) < -60
        assert rms_db(audio[at : at + 4410]) > -40


CHAPTERED = """---
title: Chaptered
background: none
---
# Arriving
Welcome.
# Resting
Rest here.
# Closing
Thank you.
"""


def _ffprobe_chapters(path: Path) -> list[tuple[float, str]]:
    import json
    import subprocess

    result = subprocess.run(
        ["ffprobe", "-v", "error", "-show_chapters", "-of", "json", str(path)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    chapters = json.loads(result.stdout)["chapters"]
    return [(float(c["start_time"]), c.get("tags", {}).get("title", "")) for c in chapters]


@pytest.mark.parametrize("fmt", ["mp3", "flac", "ogg", "m4a"])
def test_chapters_survive_conversion_in_order(tmp_path: Path, fmt: str) -> None:
    import subprocess

    script = tmp_path / "chaptered.md"
    script.write_text(CHAPTERED, encoding="utf-8")
    out = tmp_path / f"chaptered.{fmt}"
    code, _, err = run("render", str(script), "-o", str(out))
    assert code == 0, err
    titles = ["Arriving", "Resting", "Closing"]
    chapters = _ffprobe_chapters(out)
    assert [title for _, title in chapters] == titles
    assert [start for start, _ in chapters] == sorted(start for start, _ in chapters)
    # Converted by a listener's own tools: the chapters come through, in order.
    # (ffmpeg 5.1 writes no Ogg chapters of its own, so Ogg is not a target.)
    for target in ("m4a", "mp3"):
        converted = tmp_path / f"converted-from-{fmt}.{target}"
        subprocess.run(
            ["ffmpeg", "-v", "error", "-i", str(out), str(converted)], check=True
        )  # fmt: skip
        again = _ffprobe_chapters(converted)
        assert [title for _, title in again] == titles, (fmt, target, again)
        assert [s for s, _ in again] == pytest.approx([s for s, _ in chapters], abs=0.15)


def test_batch_files_carry_their_length_voice_and_track(tmp_path: Path) -> None:
    import json
    import subprocess

    script = tmp_path / "short.md"
    script.write_text("---\ntitle: Short\n---\nWelcome.\n[pause 2s..60s]\nGoodbye.\n")
    out = tmp_path / "out"
    code, _, err = run("batch", str(script), "-o", str(out), "--duration", "20s,1m", "--jobs", "1")
    assert code == 0, err
    found = {}
    for name in ("short-20s.mp3", "short-1m.mp3"):
        probe = subprocess.run(
            ["ffprobe", "-v", "error", "-show_format", "-of", "json", str(out / name)],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        found[name] = {k.lower(): v for k, v in json.loads(probe.stdout)["format"]["tags"].items()}
    assert found["short-20s.mp3"]["title"] == "Short (20 s, default)"
    assert found["short-1m.mp3"]["title"] == "Short (1 min, default)"
    assert found["short-1m.mp3"]["track"] == "2/2"
    assert {tags["album"] for tags in found.values()} == {"selfkind"}
    assert {tags["artist"] for tags in found.values()} == {"default"}
    assert {tags["genre"] for tags in found.values()} == {"Meditation"}


def test_background_chosen_at_play_time_overrides_the_script(tmp_path: Path) -> None:
    script = tmp_path / "bed.md"
    script.write_text("---\nbackground: brown-noise\n---\nHello there.\n[pause 6s]\nGoodbye.\n")
    pause_levels = {}
    for name, options in {
        "none": ["--background", "none"],
        "loud": ["--background", "pink-noise", "--background-level=-20dB"],
        "quiet": ["--background", "pink-noise", "--background-level=-30"],
    }.items():
        out = tmp_path / f"{name}.wav"
        code, _, err = run("render", str(script), "-o", str(out), *options)
        assert code == 0, err
        (pause,) = [e for e in load_manifest(out.with_suffix(".json"))["events"]
                    if e["kind"] == "pause"]  # fmt: skip
        at = round((pause["start_s"] + 2) * SESSION_RATE_HZ)
        pause_levels[name] = rms_db(decode(out)[at : at + 2 * SESSION_RATE_HZ])
    assert pause_levels["none"] < -90
    assert pause_levels["loud"] - pause_levels["quiet"] == pytest.approx(10, abs=1.5)
    code, _, err = run("render", str(script), "-o", str(tmp_path / "x.wav"),
                       "--background", "missing.flac")  # fmt: skip
    assert code == 2
    assert err.startswith("--background: background file 'missing.flac' not found")
    assert not (tmp_path / "x.wav").exists()


SCREEN = """---
title: Screen Test
content_note: Brings a small worry to mind.
---
# Arriving
You might offer yourself a few kind words, the way you would to a good friend who is struggling.
[pause 30s]
# Closing
Thank you.
"""
SPOKEN = SCREEN.split("# Arriving\n")[1].split("\n")[0]
LIBRARY_WORDS = ("ALSA", "PortAudio", "pcm", "onnx", "underrun", "lib")


class Tmux:
    """A real tmux server of its own, running one command in a window of a given size."""

    def __init__(self, socket: Path) -> None:
        self.socket = str(socket)

    def tmux(self, *args: str) -> str:
        import subprocess

        result = subprocess.run(
            ["tmux", "-S", self.socket, *args], capture_output=True, text=True, check=True
        )
        return result.stdout

    def screen(self) -> list[str]:
        return self.tmux("capture-pane", "-p", "-t", "guide").splitlines()

    def wait_for(self, wanted: str, timeout_s: float, gone: str = "") -> list[str]:
        """The screen once it shows ``wanted`` (and no longer ``gone``), or at the deadline.
        Keys are handled beside the player, so a screen can catch a change half made: the
        status line a tick behind the keys line."""
        import time

        deadline = time.monotonic() + timeout_s
        while True:
            lines = self.screen()
            words = _words(lines)
            settled = wanted in words and not (gone and gone in words)
            if settled or time.monotonic() > deadline:
                return lines
            time.sleep(0.2)


def _words(lines: list[str]) -> str:
    return " ".join(" ".join(lines).split())


@pytest.mark.live_s(7)
def test_the_guide_screen_is_whole_at_40_80_and_120_columns_and_after_a_resize(
    sound_server: str, tmp_path: Path
) -> None:
    import shutil
    import subprocess
    import sys

    from selfkind.render import load_script, prepare_session

    if shutil.which("tmux") is None:
        pytest.fail("tmux is missing: apt-get install tmux (scripts/setup.sh installs it)")
    script = tmp_path / "screen.md"
    script.write_text(SCREEN, encoding="utf-8")
    prepare_session(load_script(str(script)))  # speech in the cache: the test is the screen
    tmux = Tmux(tmp_path / "tmux.sock")
    env = [
        f"{key}={os.environ[key]}"
        for key in ("XDG_RUNTIME_DIR", "SELFKIND_HOME", "SELFKIND_VOICE", "PATH")
        if key in os.environ
    ]
    command = [sys.executable, "-m", "selfkind", "guide", str(script), "--delay", "0"]
    tmux.tmux("new-session", "-d", "-s", "guide", "-x", "40", "-y", "20",
              *[arg for pair in env for arg in ("-e", pair)], *command)  # fmt: skip
    try:
        for columns in (40, 80, 120, 40):
            tmux.tmux("resize-window", "-t", "guide", "-x", str(columns), "-y", "20")
            lines = tmux.wait_for(SPOKEN, 30)
            seen = _words(lines)
            assert SPOKEN in seen, (columns, lines)  # the sentence whole, however it wraps
            assert seen.count("Screen Test") == 1 and seen.count("q stop") == 1, lines
            assert seen.count("kind words") == 1, lines  # no fragment of an earlier layout
            assert "Arriving" in seen and "default voice" in seen
            assert all(len(line) <= columns for line in lines)
            assert not any(word.lower() in seen.lower() for word in LIBRARY_WORDS), lines
            assert "type" not in seen  # no reflection step: typing is never offered
        tmux.tmux("send-keys", "-t", "guide", "q")
        subprocess.run(["sleep", "4"], check=True)
    finally:
        subprocess.run(["tmux", "-S", tmux.socket, "kill-server"], capture_output=True)


@pytest.mark.live_s(9)
def test_plain_prints_one_line_per_caption(sound_server: str, tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys

    script = tmp_path / "plain.md"
    script.write_text(
        "---\ntitle: Plain\n---\n# One\nYou might offer yourself a few kind words, the way you"
        " would to a good friend who is struggling today.\n[pause 20s]\n",
        encoding="utf-8",
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "selfkind", "guide", str(script), "--delay", "0", "--plain"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert process.stdout is not None
    lines: list[str] = []
    while len(lines) < 3:  # the section and the sentence's two captions, as they are said
        line = process.stdout.readline()
        assert line, process.communicate()[1]
        if line.startswith("["):
            lines.append(line.split("]", 1)[1].strip())
    process.send_signal(signal.SIGINT)  # no need to sit through the pause
    process.communicate(timeout=15)
    assert lines[0] == "One"
    assert lines[1] == "You might offer yourself a few kind words,"
    assert lines[2] == "the way you would to a good friend who is struggling today."


def test_without_piper_the_default_is_espeak_which_always_works(tmp_path: Path) -> None:
    import subprocess
    import sys

    script = tmp_path / "novoice.md"
    script.write_text("Hello.\n")
    code = (
        "import sys\n"
        "sys.modules['piper'] = None  # as on a machine without the neural extra\n"
        "from selfkind.cli import main\n"
        f"sys.exit(main(['voices']) or main(['render', {str(script)!r}, '-o', {str(tmp_path / 'n.wav')!r}]))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "SELFKIND_VOICE"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    assert (
        "Default voice: default (espeak-ng, which always works; natural cannot speak here: Piper"
        in result.stdout
    )
    assert load_manifest(tmp_path / "n.json")["voice"] == "default"


@pytest.mark.parametrize(
    ("sent", "keys"),
    [
        ("q T", ["q", "space", "T"]),  # several keys in one read; case kept for typing
        ("é\x7f\x08", ["é", "backspace", "backspace"]),
        ("\x1b", ["esc"]),
        ("\x1b[C\x1b[D\r\n", ["right", "left", "enter", "enter"]),
        ("\x1b[A\x1b[1;5C\x1bOPx", ["x"]),  # unnamed sequences skipped whole, not as letters
    ],
)
def test_keys_are_named_as_typing_needs(sent: str, keys: list[str]) -> None:
    from selfkind.terminal import split_keys

    assert split_keys(sent) == keys


def test_a_typed_line_takes_characters_spaces_and_backspace() -> None:
    from selfkind.terminal import edited

    line = ""
    for key in ["M", "ê", "m", "e", "space", "x", "backspace", "right", "esc", "\x01", "!"]:
        line = edited(line, key)
    assert line == "Même !"


TYPED = """---
title: Typing Test
---
# Asking
[reflect 12s] What do you need today?
# Closing
Thank you.
"""
TYPED_PROMPT = "What do you need today?"


def _guide_in_tmux(tmp_path: Path, *options: str) -> tuple[Tmux, Path]:
    """`selfkind guide` on TYPED in a real terminal (tmux, 80 x 24), with its own journal;
    the pane stays after it ends, so its last lines can be read."""
    import shutil
    import sys

    from selfkind.render import load_script, prepare_session

    if shutil.which("tmux") is None:
        pytest.fail("tmux is missing: apt-get install tmux (scripts/setup.sh installs it)")
    script = tmp_path / "typed.md"
    script.write_text(TYPED, encoding="utf-8")
    prepare_session(load_script(str(script)))  # speech in the cache: the test is the typing
    journal_path = tmp_path / "journal.sqlite3"
    tmux = Tmux(tmp_path / "tmux.sock")
    env = [
        f"{key}={os.environ[key]}"
        for key in ("XDG_RUNTIME_DIR", "SELFKIND_HOME", "SELFKIND_VOICE", "PATH")
        if key in os.environ
    ]
    command = [sys.executable, "-m", "selfkind", "guide", str(script), "--delay", "0",
               "--journal", str(journal_path), *options]  # fmt: skip
    tmux.tmux("new-session", "-d", "-s", "guide", "-x", "80", "-y", "24",
              *[arg for pair in env for arg in ("-e", pair)], *command)  # fmt: skip
    tmux.tmux("set-option", "-t", "guide", "remain-on-exit", "on")
    return tmux, journal_path


def _clock(lines: list[str]) -> str:
    """The time played, from the clock beside the progress bar ("0:12 / 0:23")."""
    return _words(lines).split(" / ")[0].split()[-1]


def _ended(tmux: Tmux, timeout_s: float) -> str:
    """The pane's last words once the guide has ended."""
    import time

    deadline = time.monotonic() + timeout_s
    while tmux.tmux("display-message", "-p", "-t", "guide", "#{pane_dead}").strip() != "1":
        assert time.monotonic() < deadline, tmux.screen()
        time.sleep(0.2)
    return _words(tmux.screen())


@pytest.mark.live_s(16)
def test_typing_instead_of_speaking_keeps_the_words_with_the_prompt(
    microphone: PipeMicrophone, tmp_path: Path
) -> None:
    """At a reflection step, t stops listening (what was already said is kept on its own),
    holds the session while the person types, and enter keeps the words with the prompt."""
    import subprocess
    import time

    from selfkind.journal.history import History
    from selfkind.journal.store import Journal
    from selfkind.journal.written import WRITTEN

    tmux, journal_path = _guide_in_tmux(tmp_path, "--engine", "pocketsphinx", "--end-silence", "8s")
    try:
        at_step = _words(tmux.wait_for("t type instead", 60))
        assert "t type instead" in at_step and "(listening)" in at_step, at_step
        time.sleep(1.0)  # after the soft cue, as a person would
        speech = decode(FIXTURES / "reflection-4.flac", microphone.sample_rate_hz)
        microphone.say(speech[: round(2.5 * microphone.sample_rate_hz)])
        assert microphone.spoken.wait(15)
        tmux.tmux("send-keys", "-t", "guide", "t")
        typing = _words(tmux.wait_for("esc back to the step", 10))
        assert "enter keep it · esc back to the step" in typing, typing
        assert TYPED_PROMPT in typing and "the session waits for you" in typing
        tmux.tmux("send-keys", "-t", "guide", "-l", "Rest, and a little même kindnesz")
        tmux.tmux("send-keys", "-t", "guide", "BSpace")
        tmux.tmux("send-keys", "-t", "guide", "-l", "s.")
        typed = _words(tmux.wait_for("> Rest, and a little même kindness.", 10))
        assert "> Rest, and a little même kindness." in typed, typed
        time.sleep(0.8)  # the pause's fade is over
        held_at = _clock(tmux.screen())
        time.sleep(1.2)  # the session waits while they type: its clock stands still
        assert "paused" in typed and _clock(tmux.screen()) == held_at, typed
        kept = _words(tmux.wait_for("What you said before typing is kept", 20))
        assert "entry of its own (entry 1)" in kept and "> Rest, and a" in kept, kept
        tmux.tmux("send-keys", "-t", "guide", "Enter")
        moved_on = time.monotonic()
        assert "Thank you." in _words(tmux.wait_for("Thank you.", 10))
        assert time.monotonic() - moved_on < 5  # on to the step's end, as after speaking
        tmux.tmux("send-keys", "-t", "guide", "q")  # the session went on; its end is not the test
        ended = _ended(tmux, 20)
        assert "private journal (2 entries)" in ended, ended
    finally:
        subprocess.run(["tmux", "-S", tmux.socket, "kill-server"], capture_output=True)
    with Journal(journal_path) as journal:
        spoken, written = journal.entries()
        sittings = History(journal).sittings()
    assert written.transcript == "Rest, and a little même kindness."
    assert written.prompt == TYPED_PROMPT and written.practice == "Typing Test"
    assert written.engine == WRITTEN and written.session_id == spoken.session_id != ""
    assert spoken.prompt == TYPED_PROMPT and spoken.duration_s > 2.0  # said before typing
    assert [s.reflections for s in sittings] == [2]
    code, out, _ = run("journal", "search", "kindness", "--journal", str(journal_path))
    assert code == 0 and "Rest, and a little même kindness." in out


@pytest.mark.live_s(10)
def test_esc_sets_typing_aside_and_keeps_nothing_without_a_microphone(
    sound_server: str, tmp_path: Path
) -> None:
    """With no microphone the steps are quiet time, and typing is the way to answer: esc
    keeps nothing and returns to the step; typing again and enter keeps that answer only."""
    import subprocess

    from selfkind.journal.store import Journal

    tmux, journal_path = _guide_in_tmux(tmp_path, "--input-device", "no such microphone")
    try:
        at_step = _words(tmux.wait_for("t type a reflection", 60))
        assert "(listening)" not in at_step and "no microphone" in at_step, at_step
        tmux.tmux("send-keys", "-t", "guide", "t")
        tmux.wait_for("esc back to the step", 10)
        tmux.tmux("send-keys", "-t", "guide", "-l", "not this one")
        assert "> not this one" in _words(tmux.wait_for("> not this one", 10))
        tmux.tmux("send-keys", "-t", "guide", "Escape")
        back = _words(tmux.wait_for("t type a reflection", 10, gone="paused"))
        assert "not this one" not in back and "paused" not in back, back
        with Journal(journal_path) as journal:
            assert journal.entries() == []
        tmux.tmux("send-keys", "-t", "guide", "t")
        tmux.wait_for("esc back to the step", 10)
        tmux.tmux("send-keys", "-t", "guide", "-l", "this one")
        tmux.wait_for("> this one", 10)
        tmux.tmux("send-keys", "-t", "guide", "Enter")
        tmux.wait_for("Closing", 10)
        tmux.tmux("send-keys", "-t", "guide", "q")  # the rest of the session is not the test
        ended = _ended(tmux, 30)
        assert "What you wrote is in your private journal (1 entry)" in ended, ended
    finally:
        subprocess.run(["tmux", "-S", tmux.socket, "kill-server"], capture_output=True)
    with Journal(journal_path) as journal:
        (entry,) = journal.entries()
    assert entry.transcript == "this one" and entry.prompt == TYPED_PROMPT
