"""The script format: what parses, and where the errors point."""

from __future__ import annotations

import pytest

from selfkind.errors import ScriptError
from selfkind.script import (
    Bell,
    Pause,
    Reflect,
    Section,
    Speech,
    parse_duration,
    parse_script,
    read_script_text,
)
from selfkind.units import format_about

EXAMPLE = """---
title: Self-Compassion Break
voice: default            # a voice profile from voices/
duration: 5m              # optional target length
background: brown-noise
background_level: -24dB
---
# Arriving
Find a comfortable position. If it feels right, let your eyes close.
[pause 5s]
Notice your breath. [pause 2s] Breathing in... and breathing out.
[pause 10s..40s]
[bell]
[reflect 60s] What would you say to a close friend who felt this way?
"""


def test_the_issue_example_parses_into_items_in_order() -> None:
    script = parse_script(EXAMPLE, "x.md")
    front = script.front
    assert (front.title, front.voice, front.duration_s) == ("Self-Compassion Break", "default", 300)
    assert (front.background, front.background_level_db) == ("brown-noise", -24.0)
    kinds = [type(item).__name__ for item in script.items]
    assert kinds == [
        "Section",
        "Speech",
        "Pause",
        "Speech",
        "Pause",
        "Speech",
        "Pause",
        "Bell",
        "Reflect",
    ]
    assert script.items[0] == Section("Arriving", 1, 8)
    assert script.items[3] == Speech("Notice your breath.", 11, 1)
    assert script.items[5] == Speech("Breathing in... and breathing out.", 11, 32)
    assert script.items[6] == Pause(10, 40, 12, 1)
    assert script.items[7] == Bell(1, 13, 1)
    assert script.items[8] == Reflect(
        60, 60, "What would you say to a close friend who felt this way?", 14, 1
    )


def test_a_paragraph_over_several_lines_is_one_utterance() -> None:
    script = parse_script("First line\nsecond line.\n\nNext paragraph.\n", "x.md")
    assert [i.text for i in script.items] == ["First line second line.", "Next paragraph."]


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("500ms", 0.5), ("3s", 3), ("1.5s", 1.5), ("2m", 120), ("1m30s", 90), ("1h", 3600)],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(0.4, "about 5s"), (23, "about 25s"), (42, "about 40s"), (88, "about 1m30s"),
     (89.9, "about 1m30s"), (90, "about 2m"), (151, "about 3m"), (725, "about 12m"),
     (3600, "about 1h")],
)  # fmt: skip
def test_an_estimated_length_is_shown_in_seconds_under_a_minute_and_a_half(
    seconds: float, shown: str
) -> None:
    assert format_about(seconds) == shown


def test_ssml_break_and_bell_count_and_elastic_reflect() -> None:
    script = parse_script('Hello. <break time="3s"/> Again.\n[bell 3]\n[reflect 10s..1m] Why?\n')
    assert script.items[1] == Pause(3, 3, 1, 8)
    assert Bell(3, 2, 1) in script.items
    reflect = script.items[-1]
    assert isinstance(reflect, Reflect) and (reflect.min_s, reflect.max_s) == (10, 60)


def test_title_defaults_to_the_first_heading() -> None:
    assert parse_script("# Quiet\nHello.\n").title == "Quiet"


def error(text: str | bytes) -> str:
    with pytest.raises(ScriptError) as caught:
        if isinstance(text, bytes):
            read_script_text(text, "bad.md")
        else:
            parse_script(text, "bad.md")
    return str(caught.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hello.\n  [pase 5s]\n", "bad.md:2:3: unknown directive [pase 5s]; did you mean [pause]?"),
        ("Hello. [pause 5 seconds]\n", "bad.md:1:15: '5 seconds' is not a duration"),
        ("Hello. [pause 9s..2s]\n", "bad.md:1:15: the range 9s..2s runs backwards"),
        ("Hello. [bell 40]\n", "bad.md:1:14: [bell N] takes a whole number from 1 to 12"),
        ("[reflect] Why?\n", "bad.md:1:10: [reflect] needs a duration"),
        ("Hello [there\n", "bad.md:1:7: a lone '['"),
        (
            "---\ntitle: x\n\nHello.\n",
            "bad.md:1:1: the front matter that starts here is never closed",
        ),
        ("---\ntitel: x\n---\nHello.\n", "bad.md:2:1: unknown key 'titel'; did you mean 'title'?"),
        ("---\nduration: soon\n---\nHello.\n", "bad.md:2:11: 'soon' is not a duration"),
        ("---\nbackground_level: loud\n---\nHi.\n", "bad.md:2:19: 'loud' is not a level"),
        ("---\ntitle: x\n---\n\n# Only a heading\n", "bad.md:4:1: the script is empty"),
        ("", "bad.md:1:1: the script is empty"),
        ("Hello. [bell ²]\n", "bad.md:1:14: [bell N] takes a whole number from 1 to 12, not '²'"),
        ("Hello. [pause ٣s]\n", "bad.md:1:15: '٣s' is not a duration"),
        ("Hi [pause " + "9" * 400 + "s]\n", "bad.md:1:11: '" + "9" * 40 + "' is longer than 12h"),
        ("[pause 999999h]\n", "bad.md:1:8: '999999h' is longer than 12h"),
        ("---\nduration: 13h\n---\nHi.\n", "bad.md:2:11: '13h' is longer than 12h"),
        ("[pause 7h]\n[pause 6h]\n", "bad.md:2:1: the pauses up to here already last 13h"),
        ("Hi.\n\n" + "word " * 1001, "bad.md:3:1: this paragraph is 5004 characters long"),
    ],
)
def test_errors_point_at_file_line_and_column(text: str, expected: str) -> None:
    assert error(text).startswith(expected)


def test_binary_and_non_utf8_files_are_refused_with_a_location() -> None:
    assert error(b"\x89PNG\r\n\x1a\n\x00\x00").startswith("bad.md:1:1: this is a binary file")
    assert error("Hello.\nCaf\xe9\n".encode("latin-1")).startswith(
        "bad.md:2:4: byte 0xe9 is not UTF-8"
    )


def test_windows_line_endings_and_a_bom_are_accepted() -> None:
    text = read_script_text(b"\xef\xbb\xbf# Title\r\nHello.\r\n", "x.md")
    assert parse_script(text).items[1] == Speech("Hello.", 2, 1)


def test_every_mistake_is_reported_in_reading_order() -> None:
    text = "---\ntitel: x\n---\nHello [pase 1s] and [bell 0].\n\n# #\n\nA lone ] here.\n"
    lines = error(text).splitlines()
    assert [line.split(": ")[0] for line in lines] == [
        "bad.md:2:1", "bad.md:4:7", "bad.md:4:27", "bad.md:6:1", "bad.md:8:8",
    ]  # fmt: skip
