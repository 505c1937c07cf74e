"""The exercise script format: text in, a :class:`Script` of dataclasses out.

Pure: no engines, devices or files beyond :func:`read_script_text`, which only decodes bytes.
Every item remembers its line and column so that later stages can point at the source.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field, replace

from .errors import ScriptError, one_or_all
from .units import MAX_SESSION_S, format_duration, parse_duration

DIRECTIVES = ("pause", "bell", "reflect")
FRONT_MATTER_KEYS = (
    "title",
    "voice",
    "duration",
    "background",
    "background_level",
    "description",
    "tags",
    "content_note",
    "credits",
)
BUILTIN_BACKGROUNDS = ("none", "pink-noise", "brown-noise")
MAX_BELLS = 12
MAX_SCRIPT_BYTES = 1_000_000
"""A script file's largest size: some fifty times the longest practice, far under what
the speech engine and the 12-hour session limit could take."""
MAX_UTTERANCE_CHARS = 5000
"""The longest paragraph (or stretch between directives) spoken in one go. espeak-ng slows
past its timeout around a million characters and crashes near four; no one reads aloud a
paragraph of more than a few hundred words."""

_LEVEL_RE = re.compile(r"^([+-]?\d+(?:\.\d+)?)\s*dB$", re.IGNORECASE)
# One pattern finds every directive on a line: [name args] or an SSML break.
_TOKEN_RE = re.compile(r"\[(?P<body>[^\[\]]*)\]|<break\s+time\s*=\s*\"(?P<ssml>[^\"]*)\"\s*/?>")
_HEADING_RE = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")


@dataclass(frozen=True)
class Section:
    """A heading: a chapter mark and a caption, never spoken."""

    title: str
    level: int
    line: int
    col: int = 1


@dataclass(frozen=True)
class Speech:
    """One utterance: a paragraph, or the part of one between inline directives."""

    text: str
    line: int
    col: int


@dataclass(frozen=True)
class Pause:
    """Silence; elastic when ``min_s < max_s``, and then fitted by the compiler."""

    min_s: float
    """Shortest length, in seconds."""
    max_s: float
    """Longest length, in seconds."""
    line: int
    col: int

    @property
    def elastic(self) -> bool:
        return self.max_s > self.min_s


@dataclass(frozen=True)
class Bell:
    """One or more singing-bowl strikes."""

    count: int
    line: int
    col: int


@dataclass(frozen=True)
class Reflect:
    """A prompt spoken aloud, then room (silence) for the listener to answer.

    Like a pause, the room is elastic when ``min_s < max_s``.
    """

    min_s: float
    """Shortest room after the prompt, in seconds."""
    max_s: float
    """Longest room after the prompt, in seconds."""
    prompt: str
    line: int
    col: int

    @property
    def elastic(self) -> bool:
        return self.max_s > self.min_s


Item = Section | Speech | Pause | Bell | Reflect


@dataclass(frozen=True)
class FrontMatter:
    """The settings at the top of a script, with where each one was written."""

    title: str = ""
    voice: str = ""
    """A voice profile's name; empty for this machine's default (engines.default_voice)."""
    duration_s: float | None = None
    """Target length of the whole session, in seconds; None lets pauses take their middle."""
    background: str = "none"
    """``none``, a built-in noise name, or a path as written (relative to the script)."""
    background_level_db: float | None = None
    """How far under the voice the ambience sits, in dB (negative); None for the default."""
    description: str = ""
    tags: tuple[str, ...] = ()
    content_note: str = ""
    credits: str = ""
    """Whose research or published exercise the script draws on, shown with the practice."""
    locations: dict[str, tuple[int, int]] = field(default_factory=dict, compare=False)
    """Key -> (line, col) of its value, for error messages about settings."""


@dataclass(frozen=True)
class Script:
    path: str
    """Name used in messages; the file it came from, or a practice name."""
    front: FrontMatter
    items: tuple[Item, ...]

    @property
    def title(self) -> str:
        return self.front.title

    def location(self, key: str) -> tuple[int, int]:
        """Where a front-matter key was written, or (0, 0) (no location) when it was not."""
        return self.front.locations.get(key, (0, 0))


def read_script_text(data: bytes, path: str) -> str:
    """Decode a script file's bytes, rejecting binary, non-UTF-8 and oversized files with a
    location."""
    if b"\x00" in data[:8192]:
        raise ScriptError(path, 1, 1, "this is a binary file, not a script (expected UTF-8 text)")
    if len(data) > MAX_SCRIPT_BYTES:
        before = data[:MAX_SCRIPT_BYTES]
        line = before.count(b"\n") + 1
        col = len(before) - (before.rfind(b"\n") + 1) + 1
        raise ScriptError(
            path,
            line,
            col,
            f"the script is larger than {MAX_SCRIPT_BYTES / 1e6:.0f} MB, the most a script"
            " may be (this is where it passes that)",
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        before = data[: err.start]
        line = before.count(b"\n") + 1
        col = err.start - (before.rfind(b"\n") + 1) + 1
        raise ScriptError(
            path, line, col, f"byte 0x{data[err.start]:02x} is not UTF-8; save the file as UTF-8"
        ) from None
    return text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")


def _suggest(word: str, choices: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


def _strip_comment(value: str) -> str:
    """Drop a trailing ``# comment`` (a ``#`` after white space) from a front-matter value."""
    match = re.search(r"\s#", value)
    return value[: match.start()] if match else value


def _parse_front_matter(
    lines: list[str], path: str, errors: list[ScriptError]
) -> tuple[FrontMatter, int]:
    """Read the ``---`` block if there is one; returns it and the index of the first body line.

    A mistake on one line is added to ``errors`` and reading goes on with the next line.
    """
    if not lines or lines[0].strip() != "---":
        return FrontMatter(), 0
    if not any(line.strip() == "---" for line in lines[1:]):
        raise ScriptError(path, 1, 1, "the front matter that starts here is never closed with ---")
    values: dict[str, object] = {}
    locations: dict[str, tuple[int, int]] = {}
    for index in range(1, len(lines)):
        raw = lines[index]
        line_no = index + 1
        if raw.strip() == "---":
            break
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        try:
            _front_line(raw, path, line_no, values, locations)
        except ScriptError as err:
            errors.append(err)
    front = FrontMatter(locations=locations, **values)  # type: ignore[arg-type]
    return front, index + 1


def _front_line(
    raw: str,
    path: str,
    line_no: int,
    values: dict[str, object],
    locations: dict[str, tuple[int, int]],
) -> None:
    if ":" not in raw:
        col = len(raw) - len(raw.lstrip()) + 1
        raise ScriptError(path, line_no, col, "expected 'key: value' in the front matter")
    key_raw, value_raw = raw.split(":", 1)
    key = key_raw.strip().lower()
    key_col = len(key_raw) - len(key_raw.lstrip()) + 1
    if key not in FRONT_MATTER_KEYS:
        raise ScriptError(
            path,
            line_no,
            key_col,
            f"unknown key '{key}'{_suggest(key, FRONT_MATTER_KEYS)}"
            f" (known keys: {', '.join(FRONT_MATTER_KEYS)})",
        )
    if key in locations:
        raise ScriptError(path, line_no, key_col, f"'{key}' is set twice")
    value = _strip_comment(value_raw).strip()
    value_col = len(key_raw) + 2 + (len(value_raw) - len(value_raw.lstrip()))
    locations[key] = (line_no, value_col)
    values[_FIELD_FOR_KEY.get(key, key)] = _front_value(key, value, path, line_no, value_col)


def _front_value(key: str, value: str, path: str, line: int, col: int) -> object:
    """Convert one front-matter value to its typed form; keys map onto FrontMatter fields."""
    unquoted = value.strip("\"'") if len(value) >= 2 and value[0] == value[-1] else value
    if key == "duration":
        try:
            duration_s = parse_duration(value)
        except ValueError as err:
            raise ScriptError(path, line, col, str(err)) from None
        if duration_s <= 0:
            raise ScriptError(path, line, col, "the duration must be longer than zero")
        return duration_s
    if key == "background_level":
        match = _LEVEL_RE.match(value)
        if not match:
            raise ScriptError(path, line, col, f"'{value}' is not a level (try -24dB)")
        level_db = float(match.group(1))
        if level_db > 0:
            raise ScriptError(
                path, line, col, "the background sits under the voice: use 0dB or less"
            )
        return level_db
    if key == "tags":
        return tuple(t.strip() for t in value.strip("[]").split(",") if t.strip())
    if key in ("title", "voice", "background") and not unquoted:
        raise ScriptError(path, line, col, f"'{key}' needs a value")
    return unquoted


# FrontMatter field names differ from two of the keys people write.
_FIELD_FOR_KEY = {"duration": "duration_s", "background_level": "background_level_db"}


def parse_script(
    text: str, path: str = "<script>", mistakes: list[ScriptError] | None = None
) -> Script:
    """Parse a script's text; raises :class:`ScriptError` for one mistake, or
    :class:`~selfkind.errors.ScriptErrors` listing every mistake when there are several.

    Given a ``mistakes`` list, adds them there instead and returns what could be read, so a
    checker can go on to look at the rest (the voice, the background).
    """
    lines = text.split("\n")
    errors: list[ScriptError] = []
    front, body_start = _parse_front_matter(lines, path, errors)
    items: list[Item] = []
    paragraph: list[tuple[int, str]] = []
    for index in range(body_start, len(lines)):
        line = lines[index]
        line_no = index + 1
        heading = _HEADING_RE.match(line.strip())
        if heading:
            items.extend(_parse_paragraph(paragraph, path, errors))
            paragraph = []
            title = heading.group(2).strip()
            if not title:
                errors.append(ScriptError(path, line_no, 1, "a heading needs a title"))
                continue
            items.append(Section(title, len(heading.group(1)), line_no))
        elif not line.strip():
            items.extend(_parse_paragraph(paragraph, path, errors))
            paragraph = []
        else:
            paragraph.append((line_no, line))
    items.extend(_parse_paragraph(paragraph, path, errors))
    if not errors and not any(isinstance(item, (Speech, Pause, Bell, Reflect)) for item in items):
        errors.append(
            ScriptError(path, body_start + 1, 1, "the script is empty: nothing to say or play")
        )
    _check_silence_fits(items, front, path, errors)
    errors.sort(key=lambda e: (e.line, e.col))
    if errors and mistakes is None:
        raise one_or_all(errors)
    if mistakes is not None:
        mistakes.extend(errors)
    if not front.title:
        first = next((i.title for i in items if isinstance(i, Section)), "")
        front = replace(front, title=first or "Untitled practice")
    return Script(path=path, front=front, items=tuple(items))


def _check_silence_fits(
    items: list[Item], front: FrontMatter, path: str, errors: list[ScriptError]
) -> None:
    """Catch, before any work, silence that alone passes the longest session: the shortest
    pauses when a length is set (the fit can only lengthen them), their middles otherwise."""
    silence_s = 0.0
    hint = " (at the middle of their ranges: a duration: fits them shorter)"
    if front.duration_s is not None:
        hint = ""
    for item in items:
        if isinstance(item, (Pause, Reflect)):
            if front.duration_s is None:
                silence_s += (item.min_s + item.max_s) / 2
            else:
                silence_s += item.min_s
            if silence_s > MAX_SESSION_S:
                errors.append(
                    ScriptError(
                        path,
                        item.line,
                        item.col,
                        f"the pauses up to here already last {format_duration(silence_s)}"
                        f"{hint}; a session lasts at most {format_duration(MAX_SESSION_S)}",
                    )
                )
                return


def _parse_paragraph(
    lines: list[tuple[int, str]], path: str, errors: list[ScriptError]
) -> list[Item]:
    """Split one paragraph into utterances and directives, in reading order; a mistake is
    added to ``errors`` and reading goes on after it."""
    items: list[Item] = []
    words: list[str] = []
    text_at: tuple[int, int] | None = None
    pending_reflect: tuple[tuple[float, float], int, int] | None = None

    def flush() -> None:
        nonlocal words, text_at, pending_reflect
        spoken = " ".join(" ".join(words).split())
        if len(spoken) > MAX_UTTERANCE_CHARS:
            line, col = pending_reflect[1:] if pending_reflect is not None else text_at or (0, 0)
            errors.append(
                ScriptError(
                    path,
                    line,
                    col,
                    f"this paragraph is {len(spoken)} characters long; one may speak at most"
                    f" {MAX_UTTERANCE_CHARS} (split it with a blank line or a [pause])",
                )
            )
            words, text_at, pending_reflect = [], None, None
            return
        if pending_reflect is not None:
            (low_s, high_s), line, col = pending_reflect
            items.append(Reflect(low_s, high_s, spoken, line, col))
        elif spoken and text_at is not None:
            items.append(Speech(spoken, *text_at))
        words, text_at, pending_reflect = [], None, None

    for line_no, line in lines:
        position = 0
        for match in _TOKEN_RE.finditer(line):
            _take_text(line[position : match.start()], words)
            if text_at is None and "".join(words).strip():
                text_at = (line_no, _first_text_col(line, position))
            position = match.end()
            col = match.start() + 1
            flush()
            try:
                reflect = _directive(match, path, line_no, col, items)
            except ScriptError as err:
                errors.append(err)
                continue
            if reflect is not None:
                pending_reflect = (reflect, line_no, col)
        rest = line[position:]
        lone = [rest.index(bad) for bad in ("[", "]") if bad in rest]
        if lone:
            col = position + min(lone) + 1
            errors.append(
                ScriptError(
                    path, line_no, col, f"a lone '{line[col - 1]}': directives look like [pause 3s]"
                )
            )
        if text_at is None and rest.strip():
            text_at = (line_no, _first_text_col(line, position))
        _take_text(rest, words)
    flush()
    return items


def _directive(
    match: re.Match[str], path: str, line_no: int, col: int, items: list[Item]
) -> tuple[float, float] | None:
    """Add one directive's item; a ``[reflect]`` instead returns its range, for the prompt
    that follows it."""
    if match.group("ssml") is not None:
        items.append(_pause(match.group("ssml"), path, line_no, col + 12, ssml=True))
        return None
    name, _, args = match.group("body").strip().partition(" ")
    name = name.lower()
    if name == "pause":
        items.append(_pause(args, path, line_no, col + 7, ssml=False))
    elif name == "bell":
        items.append(_bell(args, path, line_no, col))
    elif name == "reflect":
        return _reflect_duration(args, path, line_no, col)
    else:
        shown = match.group("body").strip()
        hint = _suggest(name, DIRECTIVES)
        hint = hint.replace("'", "[", 1).replace("'", "]", 1) if hint else ""
        raise ScriptError(
            path,
            line_no,
            col,
            f"unknown directive [{shown}]{hint} (known: [pause D], [pause A..B],"
            " [bell], [bell N], [reflect D], [reflect A..B])",
        )
    return None


def _take_text(fragment: str, words: list[str]) -> None:
    if fragment.strip():
        words.append(fragment.strip())


def _first_text_col(line: str, start: int) -> int:
    rest = line[start:]
    return start + len(rest) - len(rest.lstrip()) + 1


def _duration_arg(text: str, path: str, line: int, col: int, what: str) -> float:
    if not text.strip():
        raise ScriptError(path, line, col, f"{what} needs a duration, like 5s")
    try:
        return parse_duration(text)
    except ValueError as err:
        raise ScriptError(path, line, col, str(err)) from None


def _duration_range(args: str, path: str, line: int, col: int, what: str) -> tuple[float, float]:
    """``D`` or ``A..B`` -> (shortest, longest) in seconds; the longest must be above zero."""
    if ".." in args:
        low_text, high_text = args.split("..", 1)
        low_s = _duration_arg(low_text, path, line, col, what)
        high_s = _duration_arg(high_text, path, line, col + len(low_text) + 2, what)
        if high_s < low_s:
            raise ScriptError(path, line, col, f"the range {args.strip()} runs backwards")
    else:
        low_s = high_s = _duration_arg(args, path, line, col, what)
    if high_s <= 0:
        raise ScriptError(path, line, col, f"{what} must last longer than zero")
    return low_s, high_s


def _pause(args: str, path: str, line: int, col: int, ssml: bool) -> Pause:
    what = "<break time=...>" if ssml else "[pause]"
    low_s, high_s = _duration_range(args, path, line, col, what)
    return Pause(low_s, high_s, line, col - (12 if ssml else 7))


def _bell(args: str, path: str, line: int, col: int) -> Bell:
    text = args.strip()
    if not text:
        return Bell(1, line, col)
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= MAX_BELLS:
        raise ScriptError(
            path,
            line,
            col + 6,
            f"[bell N] takes a whole number from 1 to {MAX_BELLS}, not '{text}'",
        )
    return Bell(int(text), line, col)


def _reflect_duration(args: str, path: str, line: int, col: int) -> tuple[float, float]:
    return _duration_range(args, path, line, col + 9, "[reflect]")
