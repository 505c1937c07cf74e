"""The built-in practice library: every script checks, fits 5, 10 and 20 minutes, invites."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from selfkind.practices import practice_names
from selfkind.render import load_script, prepare_session, render_session
from selfkind.script import Bell, Reflect, Speech

from .conftest import SESSION_RATE_HZ, cli, decode

NAMES = practice_names()
ROOT = Path(__file__).resolve().parent.parent
DIFFICULTY = "difficulty"
"""The tag every practice carries that brings something difficult to mind."""
TOUCHES_HARD_FEELINGS = {
    DIFFICULTY, "difficult-emotions", "inner-critic", "forgiveness", "regret", "healing", "grief"
}  # fmt: skip
# An utterance that asks the listener to call up something painful.
RECALL = re.compile(r"\b(to mind|think of|recall|choose one)\b", re.I)
PAINFUL = re.compile(r"\b(difficult|hard|hurt|struggl|regret|loss|judge|fell short|mistake)", re.I)
GROUNDING = re.compile(r"\b(feet|floor|ground|seat|chair|supported|held)\b", re.I)
STOP_OR_EYES_OPEN = (
    re.compile(r"\bstop", re.I),
    re.compile(r"eyes\b[^.]{0,30}\bopen|open your eyes", re.I),
)
BREATH_IN = re.compile(r"\bbreath(e|ing)? in\b", re.I)
BREATH_OUT = re.compile(r"\bbreath(e|ing)? out\b", re.I)
INVITATIONS = ("you might", "you are welcome", "if you like", "if it feels right", "take a moment")
NOT_OUR_VOICE = re.compile(r"\b(you must|you should|you have to|never|cure[sd]?|fix you)\b", re.I)


def spoken_parts(name: str) -> list[str]:
    """What the voice says, in order: each utterance and each reflection prompt."""
    items = load_script(name).items
    return [i.text if isinstance(i, Speech) else i.prompt for i in items
            if isinstance(i, (Speech, Reflect))]  # fmt: skip


def opening_sentence(name: str) -> str:
    first = spoken_parts(name)[0]
    return re.split(r"(?<=[.?!])\s", first, maxsplit=1)[0].lower()


def test_there_are_at_least_sixteen_practices_including_the_new_ones() -> None:
    assert len(NAMES) >= 16
    for name in ("self-compassion-break", "the-kind-coach", "a-safe-place",
                 "when-kindness-is-hard", "holding-grief", "warmth-for-the-body"):  # fmt: skip
        assert name in NAMES


def test_no_two_practices_open_alike() -> None:
    """Not the same first sentence, nor the same first three words ("Welcome. Let yourself")."""
    openings = {name: opening_sentence(name) for name in NAMES}
    starts = {name: " ".join(re.findall(r"[a-z']+", spoken_parts(name)[0].lower())[:3])
              for name in NAMES}  # fmt: skip
    for seen in (openings, starts):
        twins = {text: [n for n in NAMES if seen[n] == text] for text in seen.values()}
        assert all(len(names) == 1 for names in twins.values()), {
            t: n for t, n in twins.items() if len(n) > 1
        }


def test_closings_vary_some_end_without_a_bell() -> None:
    quiet_endings = [n for n in NAMES if not isinstance(load_script(n).items[-1], Bell)]
    assert len(quiet_endings) >= 3, quiet_endings


@pytest.mark.parametrize("name", NAMES)
def test_a_practice_that_brings_up_a_difficulty_prepares_the_listener(name: str) -> None:
    """Tagged ``difficulty`` when it asks to recall something painful; then a content note,
    permission to stop and to keep the eyes open, and grounding before the difficulty."""
    script = load_script(name)
    parts = spoken_parts(name)
    asks_at = next(
        (i for i, text in enumerate(parts) if RECALL.search(text) and PAINFUL.search(text)), None
    )
    tags = set(script.front.tags)
    if asks_at is not None:
        assert DIFFICULTY in tags, f"{name} asks for a difficulty: {parts[asks_at]!r}"
    if not TOUCHES_HARD_FEELINGS & tags:
        return
    assert DIFFICULTY in tags, f"{name} touches hard feelings but is not tagged {DIFFICULTY}"
    assert script.front.content_note, f"{name} brings up a difficulty with no content note"
    spoken = " ".join(parts)
    for permission in STOP_OR_EYES_OPEN:
        assert permission.search(spoken), f"{name}: no {permission.pattern!r}"
    before = " ".join(parts[: asks_at if asks_at is not None else 2])
    assert GROUNDING.search(before), f"{name}: no grounding before the difficulty"


@pytest.mark.parametrize("name", NAMES)
def test_lines_to_breathe_through_leave_room_for_the_breath(name: str) -> None:
    """An in-breath and an out-breath in one utterance would be read in one breath."""
    for text in spoken_parts(name):
        assert not (BREATH_IN.search(text) and BREATH_OUT.search(text)), (name, text)


def test_every_practice_is_credited_here_and_in_the_acknowledgements(
    capsys: pytest.CaptureFixture[str],
) -> None:
    acknowledgements = (ROOT / "ACKNOWLEDGEMENTS.md").read_text(encoding="utf-8")
    for name in NAMES:
        script = load_script(name)
        assert script.front.credits, f"{name} has no credits"
        assert script.title in acknowledgements, f"{script.title} is not in ACKNOWLEDGEMENTS.md"
    for person in ("Kristin Neff", "Christopher Germer", "Paul Gilbert"):
        assert person in acknowledgements
    code, out, _ = cli(capsys, "practices", "show", "self-compassion-break")
    assert code == 0 and re.search(r"^credits: .*Kristin Neff", out, re.M)


def test_quiet_sitting_reaches_an_hour_to_the_sample() -> None:
    script = load_script("quiet-sitting")
    timeline = prepare_session(script, duration_s=3600.0).timeline
    assert timeline.n_frames == 3600 * SESSION_RATE_HZ


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


def listed(out: str) -> list[str]:
    """The practice names in the list, without its header, descriptions and notes."""
    return [line.split()[0] for line in out.splitlines() if line[:1].strip() and
            line.split()[0] in NAMES]  # fmt: skip


def test_practices_filter_by_tag_and_length(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "practices", "--tag", "sleep", "--fits", "10m")
    sleepy = [n for n in NAMES if "sleep" in load_script(n).front.tags]
    assert code == 0 and listed(out) == sleepy and len(sleepy) >= 3
    code, out, _ = cli(capsys, "practices", "--fits", "45m")
    assert code == 0 and listed(out) == ["quiet-sitting"]
    code, out, _ = cli(capsys, "practices", "--tag", "short", "--tag", "difficulty")
    assert code == 0 and listed(out) == ["self-compassion-break", "when-kindness-is-hard"]
    code, out, _ = cli(capsys, "practices", "--tag", "timer", "--fits", "2h")
    assert code == 0 and out.startswith("No built-in practice can last 2h")
    code, _, err = cli(capsys, "practices", "--tag", "slep")
    assert code == 2 and err.startswith(
        "--tag: no practice is tagged 'slep'; did you mean 'sleep'?"
    )
