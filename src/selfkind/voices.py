"""Voice profiles: ``voices/<name>.toml`` shipped with the program, plus the user's own.

A profile names an engine and its settings. Profiles in the user config dir
(``$XDG_CONFIG_HOME/selfkind/voices``) add to or override the shipped ones.
"""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from dataclasses import asdict, dataclass, replace
from importlib import resources
from pathlib import Path

from .errors import ScriptError
from .paths import user_voices_dir

ENGINES = ("espeak", "piper")
_ESPEAK_VOICE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_+-]*(?:/[A-Za-z0-9][A-Za-z0-9_+-]*)?$")
"""An espeak-ng voice name (``en-us``, ``gmw/en-us``, ``en+f3``): never a path that could
reach outside espeak-ng's voices folder."""


@dataclass(frozen=True)
class VoiceProfile:
    name: str
    engine: str
    """``espeak`` (pyttsx3 over espeak-ng) or ``piper``."""
    voice: str
    """The engine's own voice name (espeak-ng) or model name (Piper)."""
    description: str = ""
    rate_wpm: int = 140
    """Speaking rate in words per minute (espeak)."""
    length_scale: float = 1.0
    """Piper's pace: above 1 is slower."""
    pitch: int = 50
    """espeak-ng pitch, 0 to 100."""
    volume: float = 1.0
    """Engine volume, 0 to 1."""
    gap_s: float = 0.8
    """Silence between utterances that follow each other with no pause written, in seconds."""
    breath_s: float = 1.0
    """Silence between the sentences of one paragraph: a breath, in seconds."""
    rest_s: float = 0.35
    """Silence at a comma, colon, semicolon or ellipsis inside a sentence, in seconds."""
    source: str = ""
    """File the profile was read from."""

    def paced(self, pace: float) -> VoiceProfile:
        """This voice, faster (pace above 1) or slower (below 1): its speech and its silences.

        Rates and silences scale by the same factor, so ``--pace 0.9`` is the whole session
        told a tenth more slowly, not quicker words with longer gaps.
        """
        if pace == 1.0:
            return self
        return replace(
            self,
            rate_wpm=max(_RANGES["rate_wpm"][0], round(self.rate_wpm * pace)),
            length_scale=self.length_scale / pace,
            gap_s=self.gap_s / pace,
            breath_s=self.breath_s / pace,
            rest_s=self.rest_s / pace,
        )

    def cache_identity(self) -> str:
        """Everything that changes the synthesized sound; the clip cache keys on it.

        ``rest_s`` is in: a sentence's clip holds its rests at commas.
        """
        fields = asdict(self)
        for ignored in ("name", "description", "gap_s", "breath_s", "source"):
            fields.pop(ignored)
        return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:16]


_FIELDS = {
    "name": str,
    "engine": str,
    "voice": str,
    "description": str,
    "rate_wpm": int,
    "length_scale": float,
    "pitch": int,
    "volume": float,
    "gap_s": float,
    "breath_s": float,
    "rest_s": float,
}
_RANGES = {
    "rate_wpm": (60, 400),
    "length_scale": (0.5, 3.0),
    "pitch": (0, 100),
    "volume": (0.05, 1.0),
    "gap_s": (0.0, 5.0),
    "breath_s": (0.0, 5.0),
    "rest_s": (0.0, 2.0),
}
PACE_RANGE = (0.5, 2.0)
"""How much slower or faster ``--pace`` may make a voice."""

_KIND_NAMES = {int: "a whole number", float: "a number", str: "text in quotes"}
"""How a message names the kind of value a setting takes."""


def _key_line(text: str, key: str) -> int:
    match = re.search(rf"^\s*{re.escape(key)}\s*=", text, re.MULTILINE)
    return text[: match.start()].count("\n") + 1 if match else 1


def parse_profile(text: str, path: str, fallback_name: str) -> VoiceProfile:
    """Read one profile; a malformed one raises ScriptError at the offending line."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        where = re.search(r"\(at line (\d+), column (\d+)\)", str(err))
        line, col = (int(where.group(1)), int(where.group(2))) if where else (1, 0)
        reason = re.sub(r"\s*\(at line.*\)$", "", str(err))
        raise ScriptError(path, line, col, f"not valid TOML: {reason}") from None
    values: dict[str, object] = {"name": fallback_name}
    for key, value in data.items():
        line = _key_line(text, key)
        if key not in _FIELDS:
            known = ", ".join(_FIELDS)
            raise ScriptError(path, line, 0, f"unknown setting '{key}' (known: {known})")
        wanted = _FIELDS[key]
        if wanted is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, wanted) or isinstance(value, bool):
            kind = _KIND_NAMES[wanted]
            raise ScriptError(path, line, 0, f"'{key}' should be {kind}, not {value!r}")
        if key in _RANGES and not _RANGES[key][0] <= value <= _RANGES[key][1]:
            low, high = _RANGES[key]
            raise ScriptError(path, line, 0, f"'{key}' must be between {low} and {high}")
        values[key] = value
    for required in ("engine", "voice"):
        if required not in values:
            raise ScriptError(path, 1, 0, f"the profile needs '{required} = ...'")
    if values["engine"] not in ENGINES:
        line = _key_line(text, "engine")
        raise ScriptError(path, line, 0, f"engine must be one of {', '.join(ENGINES)}")
    if values["engine"] == "espeak" and not _ESPEAK_VOICE_RE.match(str(values["voice"])):
        raise ScriptError(
            path,
            _key_line(text, "voice"),
            0,
            f"'{values['voice']}' is not an espeak-ng voice name (like en-us or gmw/en-us;"
            " see: espeak-ng --voices)",
        )
    return VoiceProfile(source=path, **values)  # type: ignore[arg-type]


def _profile_files() -> dict[str, tuple[str, str]]:
    """name -> (path, text) of every profile, the user's overriding the shipped ones."""
    found: dict[str, tuple[str, str]] = {}
    shipped = resources.files("selfkind.shipped_voices")
    for entry in sorted(shipped.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".toml"):
            found[entry.name[:-5]] = (str(entry), entry.read_text(encoding="utf-8"))
    user_dir = user_voices_dir()
    if user_dir.is_dir():
        for path in sorted(user_dir.glob("*.toml")):
            found[path.stem] = (str(path), path.read_text(encoding="utf-8"))
    return found


def voice_names() -> list[str]:
    return sorted(_profile_files())


def load_voice(name: str) -> VoiceProfile:
    """Load a profile by name, or from a path to a ``.toml`` file.

    Raises KeyError with the known names when there is no such profile.
    """
    if name.endswith(".toml") and Path(name).is_file():
        return parse_profile(Path(name).read_text(encoding="utf-8"), name, Path(name).stem)
    files = _profile_files()
    if name not in files:
        raise KeyError(name)
    path, text = files[name]
    return parse_profile(text, path, name)
