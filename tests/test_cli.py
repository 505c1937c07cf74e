"""The command as a user meets it: help, exit codes, the built-in practice, quiet output."""

from __future__ import annotations

from pathlib import Path

import pytest

from selfkind.cli import build_parser

from .conftest import cli, ffmpeg_loudness, run


def _commands() -> list[tuple[str, ...]]:
    """Every subcommand the parser knows, so a new one cannot ship without help."""
    actions = build_parser()._subparsers._group_actions  # noqa: SLF001 - argparse keeps them here
    return [()] + [(name,) for action in actions for name in action.choices]


COMMANDS = _commands()


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "selfkind")
def test_every_command_has_help(command: tuple[str, ...]) -> None:
    code, out, err = run(*command, "--help")
    assert code == 0 and "usage: selfkind" in out and err == ""


def test_the_readme_render_works_from_any_folder(tmp_path: Path) -> None:
    code, out, err = run("render", "self-compassion-break", "--format", "mp3", cwd=tmp_path)
    assert code == 0, err
    audio = tmp_path / "out" / "self-compassion-break.mp3"
    for path in (audio, audio.with_suffix(".vtt"), audio.with_suffix(".json")):
        assert path.is_file() and str(path.relative_to(tmp_path)) in out
    # Not a terminal: no progress bar, no colour codes, nothing from the speech engine.
    assert err == "" and "\x1b[" not in out and "Audio saved" not in out
    integrated, peak = ffmpeg_loudness(audio)
    assert integrated == pytest.approx(-16, abs=1) and peak <= -1.0


def test_check_reports_every_bad_file_and_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good, bad = tmp_path / "good.md", tmp_path / "bad.md"
    good.write_text("# Hello\nA kind word.\n[pause 2s]\n")
    bad.write_text("Fine.\n\n[bel 2]\n")
    code, out, err = cli(capsys, "check", str(good), str(bad))
    assert code == 2
    assert f"{good}: ok" in out
    lines = err.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"{bad}:3:1: unknown directive [bel 2]; did you mean [bell]?")
    assert cli(capsys, "check", str(good))[0] == 0


def test_practices_and_voices_are_listed(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "practices")
    assert code == 0 and "self-compassion-break" in out and "Self-Compassion Break" in out
    code, out, _ = cli(capsys, "practices", "show", "self-compassion-break")
    assert code == 0 and out.startswith("---\ntitle: Self-Compassion Break")
    code, _, err = cli(capsys, "practices", "show", "nothing-here")
    assert code == 2 and "no built-in practice" in err
    code, out, _ = cli(capsys, "voices")
    assert code == 0 and out.startswith("default")


def test_a_usage_mistake_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        cli(capsys, "render", "x.md", "--duration", "soon")
    assert caught.value.code == 2


def test_every_package_is_installed() -> None:
    """pyproject.toml lists packages by hand (voices/ is mapped in); a new folder must be there."""
    import tomllib

    root = Path(__file__).resolve().parent.parent
    listed = set(
        tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    found = {
        ".".join(init.parent.relative_to(root / "src").parts)
        for init in (root / "src").rglob("__init__.py")
    }
    assert found | {"selfkind.shipped_voices"} == listed
