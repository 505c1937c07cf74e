"""Hostile and oversized input: every mistake is one clear line at FILE:LINE:COL with the
right exit status, found by ``check`` exactly as ``render`` finds it, and before any work."""

from __future__ import annotations

import contextlib
import math
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import cli, run

NINES = "9" * 400

# name -> (script text, the location both check and render must report, words of the message)
BAD_SCRIPTS = {
    "bell.md": ("Hello. [bell ²]\n", "bell.md:1:14", "whole number"),
    "nines.md": (f"Hello. [pause {NINES}s]\n", "nines.md:1:15", "longer than 12h"),
    "huge.md": ("Hello.\n\n[pause 999999h]\n", "huge.md:3:8", "longer than 12h"),
    "piled.md": (
        "Hello.\n\n[pause 8h]\n\n[pause 8h]\n",
        "piled.md:5:1",
        "a session lasts at most 12h",
    ),
    "wordy.md": (
        "# Long\n\n" + "And breathe, gently. " * 300 + "\n",
        "wordy.md:3:1",
        "one may speak at most 5000",
    ),
    "short.md": ("---\nduration: 5s\n---\nHello, and welcome.\n", "short.md:2:11", "can last from"),
    "noaudio.md": ("---\nbackground: notes.ogg\n---\nHello.\n", "noaudio.md:2:13", "as audio"),
    "brief.md": ("---\nbackground: blip.wav\n---\nHello.\n", "brief.md:2:13", "at least 10s"),
    "video.md": ("---\nbackground: film.mp4\n---\nHello.\n", "video.md:2:13", "no sound in it"),
    "voice.md": ("---\nvoice: nobody\n---\nHello.\n", "voice.md:2:8", "unknown voice"),
}


@pytest.fixture()
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder with every bad script and the background files they name."""
    monkeypatch.chdir(tmp_path)
    for name, (text, _, _) in BAD_SCRIPTS.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    (tmp_path / "notes.ogg").write_text("not audio at all\n")
    lavfi = ["ffmpeg", "-v", "error", "-f", "lavfi", "-i"]
    subprocess.run(
        [*lavfi, "sine=frequency=440:duration=2", str(tmp_path / "blip.wav")], check=True
    )
    subprocess.run(
        [*lavfi, "testsrc=duration=12:size=32x32:rate=2", "-c:v", "mpeg4", "-an",
         str(tmp_path / "film.mp4")],
        check=True,
    )  # fmt: skip
    return tmp_path


@pytest.mark.parametrize("name", sorted(BAD_SCRIPTS))
def test_check_and_render_reject_alike_at_the_same_place(
    folder: Path, name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _, where, words = BAD_SCRIPTS[name]
    code, out, err = cli(capsys, "check", name)
    assert code == 2 and out == ""
    assert err.startswith(f"{where}: ") and words in err.splitlines()[0], err
    code, _, err = cli(capsys, "render", name, "-o", "out/x.wav")
    assert code == 2
    assert err.startswith(f"{where}: ") and words in err.splitlines()[0], err
    assert "Traceback" not in err
    assert not (folder / "out").exists()


def test_check_reports_every_mistake_in_a_file(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (folder / "many.md").write_text(
        "---\ntitel: x\nbackground: notes.ogg\n---\n"
        "Hello. [pase 3s]\n\n[bell ²] and [pause 1h..2s]\n\nA lone ] here.\n",
        encoding="utf-8",
    )
    expected = ["many.md:2:1", "many.md:3:13", "many.md:5:8", "many.md:7:7", "many.md:7:21",
                "many.md:9:8"]  # fmt: skip
    for command in ("check", "render"):
        code, _, err = cli(capsys, command, "many.md")
        assert code == 2
        found = [line.split(": ")[0] for line in err.splitlines()]
        # The script's own mistakes, all of them; render stops before the background.
        assert found == (expected if command == "check" else expected[:1] + expected[2:]), err


def test_a_script_past_the_size_limit_is_refused_where_it_passes_it(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    line = "Breathe in, and breathe out, slowly and kindly, as long as you need.\n\n"
    (folder / "big.md").write_text(line * (1_000_000 // len(line) + 10), encoding="utf-8")
    code, _, err = cli(capsys, "check", "big.md")
    where = err.split(": ")[0].split(":")
    assert code == 2 and where[0] == "big.md" and int(where[1]) > 14000
    assert "larger than 1 MB" in err


def _fake_piper_profile(folder: Path) -> Path:
    model = folder / "calm.onnx"
    model.write_bytes(b"not really a model")
    profile = folder / "calm.toml"
    profile.write_text(f'engine = "piper"\nvoice = "{model}"\n')
    return profile


@pytest.mark.parametrize(
    ("args", "code", "words"),
    [
        (["render", "ok.md", "--duration", NINES + "h"], 2, "longer than 12h"),
        (["batch", "ok.md", "-o", "b", "--duration", f"5m,{NINES}h"], 2, "longer than 12h"),
        (["render", "ok.md", "--voice", "calm.toml"], 1, "calm.onnx.json beside it"),
        (["render", "ok.md", "-o", "a-folder.wav"], 2, "is a folder"),
        (["render", "ok.md", "-o", "ok.md/x.wav"], 2, "is a file, not a folder"),
        (["render", "ok.md", "-o", "/proc/x.wav"], 2, "cannot write '/proc/x.wav'"),
        (["render", "ok.md", "-o", "null.wav"], 2, "not a regular file"),
        (["batch", "ok.md", "-o", "ok.md"], 2, "cannot write"),
        (["voices", "preview", "default", "calm " * 1200, "-o", "p.wav"], 2, "at most 5000"),
    ],
)
def test_what_used_to_be_a_traceback_is_one_line(
    tmp_path: Path, args: list[str], code: int, words: str
) -> None:
    (tmp_path / "ok.md").write_text("Hello.\n")
    (tmp_path / "a-folder.wav").mkdir()
    (tmp_path / "null.wav").symlink_to("/dev/null")
    _fake_piper_profile(tmp_path)
    got, out, err = run(*args, cwd=tmp_path)
    lines = err.strip().splitlines()
    assert got == code and words in lines[-1], err
    # One line (after argparse's usage, for an option it refuses itself).
    assert len(lines) == 1 or lines[0].startswith("usage:"), err
    assert "Traceback" not in err
    assert not list(tmp_path.rglob("*.part")) and not (tmp_path / "b").exists()
    assert Path("/dev/null").is_char_device()


@contextlib.contextmanager
def tmpfs(where: Path, size_bytes: int) -> Iterator[Path]:
    """A small real filesystem that fills up, or the test is skipped saying why."""
    where.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_bytes}", "tmpfs", str(where)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs to fill: {mounted.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", str(where)], check=True)


SHORT = "# One\nHello, and welcome.\n[pause 1s]\nThank you.\n"
PAGE = 4096


@pytest.fixture(scope="module")
def audio_bytes(tmp_path_factory: pytest.TempPathFactory) -> int:
    """How big SHORT's WAV is (the render is the same, byte for byte, every time)."""
    folder = tmp_path_factory.mktemp("measure")
    (folder / "short.md").write_text(SHORT)
    assert run("render", "short.md", "-o", "short.wav", cwd=folder)[0] == 0
    return (folder / "short.wav").stat().st_size


@pytest.mark.parametrize(
    ("stage", "spare_pages"), [("audio", None), ("captions", 0), ("manifest", 1)]
)
def test_a_full_disk_while_writing_is_one_line_and_leaves_nothing(
    tmp_path: Path, audio_bytes: int, stage: str, spare_pages: int | None
) -> None:
    # Room for the audio, and for ``spare_pages`` more: the next file does not fit.
    # (None: room for nothing but the first page of the audio.)
    size = PAGE if spare_pages is None else math.ceil(audio_bytes / PAGE + spare_pages) * PAGE
    (tmp_path / "short.md").write_text(SHORT)
    with tmpfs(tmp_path / "small", size) as small:
        code, _, err = run("render", "short.md", "-o", f"{small}/short.wav", cwd=tmp_path)
        left = sorted(p.name for p in small.iterdir())
    suffix = {"audio": ".wav", "captions": ".vtt", "manifest": ".json"}[stage]
    assert code == 1, err
    assert err.startswith(f"selfkind: cannot write {small}/short{suffix}: No space left")
    assert len(err.strip().splitlines()) == 1
    assert left == []


def test_a_full_disk_under_the_cache_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "fresh.md").write_text("Words no cache has heard before, said once.\n")
    with tmpfs(tmp_path / "home", PAGE) as home:
        (home / "filler").write_bytes(b"x" * PAGE)
        env = {**os.environ, "SELFKIND_HOME": str(home)}
        result = subprocess.run(
            [*_selfkind(), "render", "fresh.md", "-o", "fresh.wav"],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    assert result.returncode == 1, result.stderr
    assert result.stderr.startswith("selfkind: cannot write ")
    assert "No space left on device" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "fresh.wav").exists()


def _selfkind() -> list[str]:
    import sys

    return [sys.executable, "-m", "selfkind"]


def test_names_with_control_characters_are_shown_escaped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    name = "evil\x1b]0;owned\x07\x1b[2J\nname.md"
    (tmp_path / name).write_text("Hello. [pase 1s]\n")
    code, out, err = cli(capsys, "check", name)
    assert code == 2 and "\x1b" not in err and "\x07" not in err
    assert err.count("\n") == 1  # one line, ended by the one newline print adds
    assert err.startswith("evil\\x1b]0;owned\\x07\\x1b[2J\\nname.md:1:8: unknown directive")
    (tmp_path / name).write_text("Hello.\n")
    code, out, _ = cli(capsys, "check", name)
    assert code == 0 and "\x1b" not in out and out.count("\n") == 1
    code, _, err = cli(capsys, "render", "missing\x1b[31m.md")
    assert code == 2 and "\x1b" not in err and "missing\\x1b[31m.md" in err
    (tmp_path / name).write_text("Hello. [pase 1s]\n\n[bell 0]\n")
    code, out, err = cli(capsys, "batch", name, "-o", "b")
    assert code == 1 and "\x1b" not in err + out
    failed = [line for line in err.splitlines() if line.startswith("failed: ")]
    assert [line.split(": ")[1].rsplit(":", 1)[0] for line in failed] == [
        "evil\\x1b]0;owned\\x07\\x1b[2J\\nname.md:1",
        "evil\\x1b]0;owned\\x07\\x1b[2J\\nname.md:3",
    ]
    (tmp_path / "ok.md").write_text("Hello.\n")
    # Values that argparse itself refuses, too.
    code, _, err = run("render", "ok.md", "--format", "mp\x1b[31m3", cwd=tmp_path)
    assert code == 2 and "\x1b" not in err and "'mp\\x1b[31m3'" in err


@pytest.mark.parametrize("voice", ["../../../../etc/passwd", "/etc/passwd", "en us", "a/b/c"])
def test_an_espeak_voice_must_be_a_plain_voice_name(
    tmp_path: Path, voice: str, capsys: pytest.CaptureFixture[str]
) -> None:
    profile = tmp_path / "odd.toml"
    profile.write_text(f'engine = "espeak"\n# a comment\nvoice = "{voice}"\n')
    (tmp_path / "ok.md").write_text("Hello.\n")
    code, _, err = cli(capsys, "render", str(tmp_path / "ok.md"), "--voice", str(profile))
    assert code == 2
    assert err.startswith(f"{profile}:3: '{voice}' is not an espeak-ng voice name")
