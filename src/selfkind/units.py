"""Durations as people write them (``500ms``, ``1m30s``, ``2h``) and as messages show them."""

from __future__ import annotations

import math
import re

MAX_SESSION_S = 12 * 3600.0
"""The longest session selfkind makes, and so the longest duration it accepts anywhere:
far past any practice, short of filling a disk."""

# ASCII digits only: str.isdigit() and \d accept '²' and other digits float() refuses.
_DURATION_RE = re.compile(
    r"^(?:(?P<h>\d+(?:\.\d+)?)h)?(?:(?P<m>\d+(?:\.\d+)?)m(?!s))?"
    r"(?:(?P<s>\d+(?:\.\d+)?)s)?(?:(?P<ms>\d+(?:\.\d+)?)ms)?$",
    re.ASCII,
)


def format_duration(duration_s: float) -> str:
    """Human form used in messages, e.g. ``3m12s`` or ``1h2m``."""
    total_s = round(duration_s)
    hours, rest = divmod(total_s, 3600)
    minutes, seconds = divmod(rest, 60)
    out = ""
    if hours:
        out += f"{hours}h"
    if minutes:
        out += f"{minutes}m"
    if seconds or not out:
        out += f"{seconds}s"
    return out


ABOUT_SECONDS_BELOW_S = 90.0
"""An estimated length shorter than this is shown in seconds: "about 1m" for a 23 s session
was off by a factor of nearly three."""


def format_about(duration_s: float) -> str:
    """An estimated length as a person says it: ``about 25s`` (to 5 s) under a minute and a
    half, else ``about 12m`` (to the minute), where seconds would promise more than is known."""
    if duration_s < ABOUT_SECONDS_BELOW_S:
        return f"about {format_duration(max(5, 5 * round(duration_s / 5)))}"
    return f"about {format_duration(60 * round(duration_s / 60))}"


def parse_duration(text: str) -> float:
    """``500ms``, ``3s``, ``1.5s``, ``2m``, ``1m30s``, ``1h`` -> seconds.

    Raises ValueError with a readable reason; callers add the location. Nothing longer
    than :data:`MAX_SESSION_S` is accepted (a long run of nines would otherwise be infinite).
    """
    cleaned = text.strip().lower().replace(" ", "")
    match = _DURATION_RE.match(cleaned)
    if not cleaned or not match or not any(match.groupdict().values()):
        raise ValueError(f"'{text.strip()}' is not a duration (try 500ms, 3s, 1.5s, 2m or 1m30s)")
    parts = match.groupdict()
    duration_s = (
        float(parts["h"] or 0) * 3600
        + float(parts["m"] or 0) * 60
        + float(parts["s"] or 0)
        + float(parts["ms"] or 0) / 1000
    )
    if not math.isfinite(duration_s) or duration_s > MAX_SESSION_S:
        raise ValueError(
            f"'{text.strip()[:40]}' is longer than {format_duration(MAX_SESSION_S)},"
            " the longest session selfkind makes"
        )
    return duration_s
