"""The built-in practice library: every script checks, fits 5, 10 and 20 minutes, invites."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from selfkind.practices import practice_names
from selfkind.render import load_script, prepare_session, render_session
from selfkind.script import Reflect

from .conftest import SESSION_RATE_HZ, cli, decode

NAMES = practice_names()
TOUCHES_HARD_FEELINGS = {"difficult-emotions", "inner-critic", "forgiveness", "regret", "healing"}
INVITATIONS = ("you might", "you are welcome", "if you like", "if it feels right", "take a moment")
NOT_OUR_VOICE = re.compile(r"\b(you must|you should|you have to|never|cure[sd]?|fix you)\b", re.I)


def test_there_are_at_least_eight_practices_including_the_break() -> None:
    assert len(NAMES) >= 8 and "self-compassion-break" in NAMES


@pytest.mark.parametrize("name", NAMES)
def test_each_practice_checks_and_has_complete_front_matter(
    name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(capsys, "check", name)[0] == 0
    front = load_script(name).front
    assert front.title and front.description and front.tags and front.duration_s
    if TOUCHES_HARD_FEELINGS & set(front.tags):
        assert front.content_note, f"{name} touches hard feelings but has no content note"


@pytest.mark.parametrize("name", NAMES)
def test_each_reflection_is_a_question_or_an_invitation(name: str) -> None:
    script = load_script(name)
    prompts = [item.prompt for item in script.items if isinstance(item, Reflect)]
    assert prompts, f"{name} has no [reflect] step"
    for prompt in prompts:
        assert prompt.rstrip().endswith("?") or any(p in prompt.lower() for p in INVITATIONS), (
            prompt
        )


@pytest.mark.parametrize("name", NAMES)
def test_language_stays_invitational(name: str) -> None:
    script = load_script(name)
    spoken = " ".join(getattr(i, "text", "") or getattr(i, "prompt", "") for i in script.items)
    assert not NOT_OUR_VOICE.search(spoken), NOT_OUR_VOICE.search(spoken)
    assert re.search(r"stop|pause|open your eyes|eyes open|as you prefer|whichever", spoken, re.I)


@pytest.mark.parametrize("name", NAMES)
def test_each_practice_fits_5_10_and_20_minutes_to_the_sample(name: str, tmp_path: Path) -> None:
    """The fit is exact to the sample at every length; one length per practice is rendered
    and decoded (rendering all four would only repeat the mixer's work)."""
    script = load_script(name)
    claimed_s = script.front.duration_s
    assert claimed_s is not None
    for target_s in sorted({300.0, 600.0, 1200.0, claimed_s}):
        timeline = prepare_session(script, duration_s=target_s).timeline
        assert timeline.n_frames == round(target_s * SESSION_RATE_HZ), (name, target_s)
    out = tmp_path / "claimed.wav"
    render_session(prepare_session(script), out, "wav")
    assert decode(out).size == round(claimed_s * SESSION_RATE_HZ)
