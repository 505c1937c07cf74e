"""The pure compiler: script + speech lengths -> sample-exact timeline."""

from __future__ import annotations

import pytest

from selfkind.errors import ScriptError
from selfkind.script import parse_script
from selfkind.timeline import LEAD_IN_S, TAIL_S, compile_timeline, length_range_s, utterances

RATE = 22050
SCRIPT = parse_script(
    "# One\nHello there.\n[pause 2s..10s]\nSecond line.\n\nThird line.\n"
    "# Two\n[bell 2]\n[reflect 5s..25s] What do you need?\n[pause 1s]\n",
    "t.md",
)
# Speech lengths stand in for clips here: the compiler only ever sees frame counts.
FRAMES = {
    "Hello there.": 30000,
    "Second line.": 25000,
    "Third line.": 20000,
    "What do you need?": 15000,
}


def test_without_a_target_elastic_pauses_take_the_middle() -> None:
    timeline = compile_timeline(SCRIPT, FRAMES, RATE, gap_s=1.0)
    pause = next(e for e in timeline.of_kind("pause") if e.line == 3)
    assert pause.n_frames == 6 * RATE
    reflect = timeline.of_kind("reflect")[0]
    assert reflect.n_frames == 15 * RATE


def test_events_are_contiguous_and_speech_matches_its_clip() -> None:
    timeline = compile_timeline(SCRIPT, FRAMES, RATE, gap_s=1.0)
    speech = timeline.of_kind("speech")
    assert [e.n_frames for e in speech] == [30000, 25000, 20000, 15000]
    assert speech[0].start_frame == round(LEAD_IN_S * RATE)
    # Consecutive utterances get the voice's gap between them.
    assert speech[2].start_frame - speech[1].end_frame == RATE
    body = [e for e in timeline.events if e.kind != "section"]
    for before, after in zip(body, body[1:], strict=False):
        assert after.start_frame >= before.end_frame
    assert timeline.n_frames - body[-1].end_frame == round(TAIL_S * RATE)


@pytest.mark.parametrize("target_s", [30.0, 33.3, 47.123])
def test_a_target_is_hit_to_the_sample(target_s: float) -> None:
    timeline = compile_timeline(SCRIPT, FRAMES, RATE, gap_s=1.0, target_duration_s=target_s)
    assert timeline.n_frames == round(target_s * RATE)


def test_sections_span_to_the_next_section() -> None:
    timeline = compile_timeline(SCRIPT, FRAMES, RATE)
    one, two = timeline.of_kind("section")
    assert (one.text, two.text) == ("One", "Two")
    assert one.end_frame == two.start_frame and two.end_frame == timeline.n_frames


def test_an_impossible_target_names_the_possible_range() -> None:
    low_s, high_s = length_range_s(SCRIPT, FRAMES, RATE, 1.0)
    with pytest.raises(ScriptError) as caught:
        compile_timeline(SCRIPT, FRAMES, RATE, gap_s=1.0, target_duration_s=high_s + 5)
    assert "this script can last from" in str(caught.value)
    assert compile_timeline(SCRIPT, FRAMES, RATE, 1.0, low_s).n_frames == round(low_s * RATE)


def test_utterances_are_distinct_and_in_order() -> None:
    script = parse_script("Breathe.\n\nBreathe.\n\n[reflect 3s] Now?\n")
    assert utterances(script) == ["Breathe.", "Now?"]


def test_a_session_past_twelve_hours_is_refused_where_it_passes_them() -> None:
    # The pause alone fits (its middle is 10.5 h), but with two hours of speech it does not.
    script = parse_script("A very long talk.\n\n[pause 9h..12h]\n\nAnd the end.\n", "long.md")
    rate = 100
    frames = {"A very long talk.": 2 * 3600 * rate, "And the end.": rate}
    with pytest.raises(ScriptError) as caught:
        compile_timeline(script, frames, rate)
    assert str(caught.value).startswith("long.md:3: the session passes 12h")
    # With a length to fit, the same script is fine.
    assert compile_timeline(script, frames, rate, target_duration_s=11.5 * 3600).n_frames == (
        11.5 * 3600 * rate
    )
