"""The first minute with selfkind, as a new person meets it: the installed ``selfkind``
command run in a new process, what it prints and its exit status."""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import pty
import resource
import sqlite3
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest

from selfkind.cli import build_parser
from selfkind.journal.store import _SCHEMA, STATUS_DONE, STATUS_PENDING, Entry, Journal

from .conftest import load_manifest

SELFKIND = Path(sys.executable).parent / "selfkind"
"""The console script pip installed, as a person runs it."""
ROOT = Path(__file__).resolve().parent.parent
NO_SOUND = {"PULSE_SERVER": "unix:/nonexistent"}
"""No sound server to reach (and none autospawned): a machine without a sound card."""


def selfkind(
    *args: str, env: dict[str, str] | None = None, stdin: int | None = subprocess.DEVNULL
) -> tuple[int, str, str]:
    result = subprocess.run(
        [str(SELFKIND), *args],
        capture_output=True,
        text=True,
        timeout=300,
        stdin=stdin,
        env={**os.environ, "NO_COLOR": "1", **(env or {})},
    )
    return result.returncode, result.stdout, result.stderr


# 1. selfkind alone


def test_selfkind_alone_greets_and_says_where_to_start(selfkind_home: Path) -> None:
    code, out, err = selfkind()
    assert code == 0 and err == ""
    for command in ("practices", "guide NAME", "render NAME", "reflect", "journal"):
        assert f"selfkind {command}" in out
    assert f"{selfkind_home}/data/journal/journal.sqlite3" in out
    assert "selfkind COMMAND --help" in out and "selfkind doctor" in out
    assert len(out.splitlines()) <= 16  # short: a greeting, not the manual
    code, out, _ = selfkind("--version")
    assert code == 0 and out.strip() == f"selfkind {importlib.metadata.version('selfkind')}"


# 2. doctor


def test_doctor_passes_on_a_machine_without_a_sound_card(tmp_path: Path) -> None:
    code, out, err = selfkind("doctor", env={**NO_SOUND, "SELFKIND_HOME": str(tmp_path / "h")})
    assert code == 0, out + err
    lines = {line.split()[1] if line.split()[1] != "sound" else "sound": line
             for line in out.splitlines() if line.strip() and not line.startswith("Ready")}  # fmt: skip
    assert lines["espeak-ng"].startswith("ok") and lines["ffmpeg"].startswith("ok")
    assert lines["sound"].startswith("warning") and "render and batch write files" in lines["sound"]
    assert lines["microphone"].startswith("warning") and "selfkind devices" in lines["microphone"]
    assert lines["data"].startswith("ok") and str(tmp_path / "h" / "data") in lines["data"]
    assert lines["free"].startswith("ok") and "free" in lines["free"]
    for optional in ("Whisper", "Vosk", "Piper"):
        assert lines[optional].split()[0] in ("ok", "warning")
    assert "Ready" in out


def test_doctor_finds_the_sound_devices_of_a_sound_server(sound_server: str) -> None:
    code, out, _ = selfkind("doctor")
    sound = [
        line for line in out.splitlines() if " sound output " in line or " microphone " in line
    ]
    assert code == 0 and len(sound) == 2 and all(line.startswith("ok") for line in sound), out


def test_doctor_fails_and_says_what_to_install_when_ffmpeg_is_missing(tmp_path: Path) -> None:
    code, out, err = selfkind("doctor", env={**NO_SOUND, "PATH": str(tmp_path)})
    assert code == 1
    ffmpeg = next(line for line in out.splitlines() if " ffmpeg " in line)
    assert ffmpeg.startswith("MISSING") and "apt-get install ffmpeg" in ffmpeg
    assert "ffmpeg" in err and "selfkind doctor again" in err


def test_doctor_fails_when_the_data_folder_cannot_be_made(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    code, out, _ = selfkind("doctor", env={**NO_SOUND, "SELFKIND_HOME": str(blocker / "home")})
    assert code == 1
    line = next(line for line in out.splitlines() if "data folder" in line)
    assert line.startswith("MISSING") and "SELFKIND_HOME" in line


def test_doctor_warns_about_a_data_folder_others_can_read(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    os.chmod(data, 0o755)
    code, out, _ = selfkind("doctor", env={**NO_SOUND, "SELFKIND_HOME": str(tmp_path)})
    line = next(line for line in out.splitlines() if "data folder" in line)
    assert code == 0 and line.startswith("warning") and f"chmod 700 {data}" in line


# 3. practices


def test_practices_answers_at_once_with_a_header_descriptions_and_notes(tmp_path: Path) -> None:
    """Under 0.5 s of processor time with an empty cache (synthesizing took 6.3 s). The
    processor time of the process is measured, not the wall clock: the machine running the
    tests is shared, and waiting for a core is not the command's doing."""
    cpu_s = []
    for attempt in range(3):  # a fresh cache each time: cold
        home = tmp_path / f"home{attempt}"
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        code, out, err = selfkind("practices", env={"SELFKIND_HOME": str(home)})
        wall_s = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu_s.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
        assert code == 0, err
        assert wall_s < 3.0  # even on a busy machine, far from a synthesis
        assert not list(home.rglob("*.npy"))  # nothing was synthesized
    assert min(cpu_s) < 0.5, cpu_s
    lines = out.splitlines()
    assert lines[0].split() == ["NAME", "TITLE", "USUAL", "CAN", "BE", "(about)", "TAGS"]
    entry = lines.index(next(line for line in lines if line.startswith("self-compassion-break")))
    assert "5m" in lines[entry] and "~" in lines[entry] and "core" in lines[entry]
    assert lines[entry + 1].strip().startswith("A short pause for a hard moment")
    assert lines[entry + 2].strip().startswith("Content note: Invites you to bring")
    assert "selfkind practices show NAME" in lines[-1]
    code, out, _ = selfkind("practices", "--help")
    assert code == 0 and "--jobs" not in out


def test_estimated_ranges_are_close_to_the_synthesized_ones() -> None:
    """The estimate stands in for synthesis: it must stay near what a render can do."""
    from selfkind.estimate import estimated_length_range_s
    from selfkind.render import load_script, resolve_voice, script_length_range

    script = load_script("three-minute-reset")
    low_s, high_s = script_length_range(script)
    est_low_s, est_high_s = estimated_length_range_s(script, resolve_voice(script, None))
    assert abs(est_low_s - low_s) < 0.1 * low_s and abs(est_high_s - high_s) < 0.1 * low_s


# 4. messages name things as the person typed them

WRONG = [
    ("frob",),
    ("render",),
    ("render", "no-such-practice"),
    ("render", "three-minute-reset", "--duration", "soon"),
    ("render", "three-minute-reset", "--format", "ogv"),
    ("render", "three-minute-reset", "--voice", "nobody"),
    ("render", "three-minute-reset", "--bogus"),
    ("render", ""),
    ("batch",),
    ("batch", "", "-o", "never-made"),
    ("guide", "no-such-practice"),
    ("devices", "extra"),
    ("journal", "frob"),
    ("journal", "show"),
    ("journal", "show", "99"),
    ("journal", "show", "seven"),
    ("journal", "delete"),
    ("journal", "delete", "99"),
    ("journal", "search"),
    ("journal", "transcribe", "99"),
    ("reflect", "--duration", "0"),
    ("reflect", "--max", "soon"),
    ("transcribe",),
    ("transcribe", ""),
    ("models", "frob"),
    ("models", "install"),
    ("models", "remove"),
    ("check",),
    ("check", "no-such-practice"),
    ("check", " "),
    ("practices", "foo"),
    ("practices", "show"),
    ("practices", "show", "nope"),
    ("practices", "show", ""),
    ("voices", "frob"),
    ("voices", "preview"),
    ("voices", "preview", "nobody"),
    ("completion",),
    ("completion", "fish"),
]
INTERNAL = ("None", "argument action", "argument -", "Namespace", "Traceback", "args.")
WHAT_TO_DO = ("see", "one of", "known", "built-in", "try", "e.g.", "selfkind ", "--help")


@pytest.mark.parametrize("command", WRONG, ids=" ".join)
def test_a_wrong_argument_is_named_as_typed_and_says_what_to_do(
    command: tuple[str, ...], tmp_path: Path
) -> None:
    code, out, err = (
        selfkind(*command, "--journal", str(tmp_path / "j.sqlite3"))
        if command[0] == "journal"
        else selfkind(*command)
    )
    assert code == 2, err
    message = err.strip().splitlines()[-1]
    assert not any(name in message for name in INTERNAL), message
    assert not message.startswith(":") and ": :" not in message and "''" not in message
    assert any(hint in message for hint in WHAT_TO_DO), message
    if "required: " in message:  # named as the usage line shows them, not by dest
        named = message.split("required: ")[1].split(";")[0].split(", ")
        assert all(name.isupper() or name.startswith("-") for name in named), message
    shown = [part for part in command[1:] if part and part not in ("show", "delete")]
    if command[0] in ("practices", "journal", "voices", "frob") and shown:
        assert shown[-1] in message  # what was typed is named, as typed


# 5. same idea, same option name; help on every option


def _parsers() -> list[tuple[str, argparse.ArgumentParser]]:
    parser = build_parser()
    found = [("selfkind", parser)]
    for action in parser._subparsers._group_actions:  # noqa: SLF001
        found += [(f"selfkind {name}", sub) for name, sub in action.choices.items()]
    return found


def test_every_option_and_argument_has_help() -> None:
    missing = [
        f"{where} {'/'.join(action.option_strings) or action.dest}"
        for where, parser in _parsers()
        for action in parser._actions  # noqa: SLF001
        if not isinstance(action, argparse._SubParsersAction)  # noqa: SLF001
        and not action.help
    ]
    assert missing == []


def test_reflect_takes_duration_like_every_other_command() -> None:
    code, out, _ = selfkind("reflect", "--help")
    assert code == 0 and "--duration DURATION" in out and "--max" not in out
    code, _, err = selfkind("reflect", "--max", "soon")  # the old name still works, hidden
    assert code == 2 and "--max: 'soon' is not a duration" in err
    assert "own .toml" in selfkind("guide", "--help")[1]
    assert "audio format" in selfkind("batch", "--help")[1]


# 6. empty states


def test_empty_states_say_so_and_what_to_do_next(tmp_path: Path) -> None:
    journal = ["--journal", str(tmp_path / "journal.sqlite3")]
    code, out, _ = selfkind("journal", *journal)
    assert code == 0 and out.startswith("Your journal is empty.") and "selfkind reflect" in out
    code, out, _ = selfkind("journal", "search", "river", *journal)
    assert code == 0 and "Nothing in your journal matches 'river'" in out
    assert "selfkind journal list" in out
    code, out, err = selfkind("journal", "transcribe", *journal)
    assert code == 0 and out.startswith("Nothing is waiting to be transcribed") and err == ""


# 7. journal delete asks; numbers are never reused


def _journal_with(path: Path, *texts: str) -> list[int]:
    with Journal(path) as journal:
        return [
            journal.add(Entry("2026-11-20T08:15:00+00:00", transcript=t, status=STATUS_DONE))
            for t in texts
        ]


def _delete_on_a_terminal(path: Path, entry_id: int, answer: str) -> tuple[int, str]:
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        [str(SELFKIND), "journal", "delete", str(entry_id), "--journal", str(path)],
        stdin=terminal,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    os.close(terminal)
    os.write(controller, answer.encode() + b"\n")
    out, _ = process.communicate(timeout=60)
    os.close(controller)
    return process.returncode, out


def test_delete_asks_on_a_terminal_and_refuses_without_one(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    first, second = _journal_with(path, "a quiet morning", "a hard evening")
    code, out, err = selfkind("journal", "delete", str(first), "--journal", str(path))
    assert code == 2 and err.strip().endswith(f"selfkind journal delete {first} --yes")
    code, out = _delete_on_a_terminal(path, first, "n")
    assert code == 0 and f"Delete entry {first}" in out and "Nothing was deleted." in out
    with Journal(path) as journal:
        assert journal.get(first) is not None
    code, out = _delete_on_a_terminal(path, first, "y")
    assert code == 0 and f"Deleted entry {first}" in out
    code, out, _ = selfkind("journal", "delete", str(second), "--yes", "--journal", str(path))
    assert code == 0 and f"Deleted entry {second}" in out
    (third,) = _journal_with(path, "a new day")
    assert third == second + 1  # the deleted last number is not given again


def test_a_journal_made_before_autoincrement_is_migrated(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    old = sqlite3.connect(path)
    old.executescript(_SCHEMA.replace(" AUTOINCREMENT", ""))
    for text in ("the river at dawn", "the last entry"):
        old.execute(
            "INSERT INTO entries (started_at, transcript, status) VALUES (?, ?, ?)",
            ("2026-11-20T08:15:00+00:00", text, STATUS_PENDING),
        )
    old.commit()
    old.close()
    code, out, _ = selfkind("journal", "search", "river", "--journal", str(path))
    assert code == 0 and out.split()[0] == "1"  # the rebuilt index still finds old words
    assert selfkind("journal", "delete", "2", "--yes", "--journal", str(path))[0] == 0
    (new,) = _journal_with(path, "after the move")
    assert new == 3
    code, out, _ = selfkind("journal", "list", "--journal", str(path))
    assert [line.split()[0] for line in out.splitlines()] == ["1", "3"]


# 8. a render in another format does not leave the old audio behind

SHORT = "---\ntitle: Short\nbackground: none\n---\nHello.\n[pause 1s]\nGoodbye.\n"


def test_a_render_in_another_format_removes_the_audio_it_replaced(tmp_path: Path) -> None:
    script = tmp_path / "short.md"
    script.write_text(SHORT)
    wav, mp3 = tmp_path / "out" / "x.wav", tmp_path / "out" / "x.mp3"
    assert selfkind("render", str(script), "-o", str(wav))[0] == 0
    mine = tmp_path / "out" / "x.flac"
    mine.write_bytes(b"a file of the person's own, never named by a manifest")
    code, out, err = selfkind("render", str(script), "-o", str(mp3))
    assert code == 0, err
    assert not wav.exists() and mp3.is_file() and mine.is_file()
    assert f"Removed {wav}" in out
    assert load_manifest(mp3.with_suffix(".json"))["audio"] == "x.mp3"
    code, out, _ = selfkind("render", str(script), "-o", str(mp3))  # same format: nothing
    assert code == 0 and "Removed" not in out and mine.is_file()


# 9. shell completion


def test_completion_scripts_and_the_hook_complete_commands() -> None:
    for shell in ("bash", "zsh"):
        code, out, _ = selfkind("completion", shell)
        assert code == 0 and "selfkind" in out and "_ARGCOMPLETE" in out
    answers = {}
    for line in ("selfkind prac", "selfkind render x --for"):
        result = subprocess.run(
            [str(SELFKIND)],
            env={**os.environ, "_ARGCOMPLETE": "1", "COMP_LINE": line,
                 "COMP_POINT": str(len(line)), "_ARGCOMPLETE_STDOUT_FILENAME": "/dev/stdout"},
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        answers[line] = result.stdout.split()
    assert answers == {"selfkind prac": ["practices"], "selfkind render x --for": ["--format"]}


# 10. the licence is an SPDX expression (no setuptools deprecation warning)


def test_the_licence_is_an_spdx_expression() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["project"]["license"] == "MIT"
    assert "setuptools>=77" in project["build-system"]["requires"]
    assert importlib.metadata.metadata("selfkind")["License-Expression"] == "MIT"
