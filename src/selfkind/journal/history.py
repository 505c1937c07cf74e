"""A gentle history: the sessions a person sat through, kept in the journal database.

What is kept is what happened (the practice, its length, how much of it was heard, how many
reflections were kept, where it stopped), never a score: no streaks, no goals, no counts of
days missed. Sessions are deleted like entries, from the same private database.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field

from .store import Journal

KIND_GUIDE, KIND_TIMER = "guide", "timer"
RESUME_WITHIN_S = 24 * 3600.0
"""How long a session stopped part-way is offered for resuming."""
MAX_STEP_S = 2.0
"""A jump in position larger than this between two looks is a skip, not listening."""
_SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    id INTEGER PRIMARY KEY,
    started_at TEXT NOT NULL,
    ended_at TEXT NOT NULL,
    kind TEXT NOT NULL,
    practice TEXT NOT NULL,
    source TEXT NOT NULL DEFAULT '',
    options TEXT NOT NULL DEFAULT '{}',
    length_s REAL NOT NULL,
    heard_s REAL NOT NULL,
    reflections INTEGER NOT NULL DEFAULT 0,
    stopped_at_s REAL,
    stopped_in TEXT NOT NULL DEFAULT ''
);
"""


@dataclass
class Sitting:
    """One session as it happened."""

    started_at: str
    """ISO 8601 with the local offset."""
    ended_at: str
    kind: str
    """``guide`` or ``timer``."""
    practice: str
    """The title, as shown."""
    length_s: float
    """The whole session as planned, in seconds."""
    heard_s: float
    """What was actually played (pauses and skipped parts not counted), in seconds."""
    source: str = ""
    """What was asked for (a practice name or a script path), to resume it."""
    options: dict[str, object] = field(default_factory=dict)
    """The options that shaped its timeline (``duration_s``, ``voice``), to resume it."""
    reflections: int = 0
    stopped_at_s: float | None = None
    """Start of the section where it stopped, in seconds; None when it played to the end."""
    stopped_in: str = ""
    """That section's title."""
    id: int = 0


class HeardClock:
    """Adds up the time actually played from a position looked at now and then (a few times
    a second): steady progress counts; a pause adds nothing; a skip, either way, adds nothing."""

    def __init__(self) -> None:
        self.heard_s = 0.0
        self._last_s: float | None = None

    def look(self, position_s: float) -> None:
        if self._last_s is not None and 0 < position_s - self._last_s <= MAX_STEP_S:
            self.heard_s += position_s - self._last_s
        self._last_s = position_s


class History:
    def __init__(self, journal: Journal) -> None:
        self.journal = journal
        with journal.transaction() as db:
            db.executescript(_SCHEMA)

    def add(self, sitting: Sitting) -> int:
        row = {k: v for k, v in sitting.__dict__.items() if k != "id"}
        row["options"] = json.dumps(sitting.options)
        columns, marks = ", ".join(row), ", ".join(f":{k}" for k in row)
        with self.journal.transaction() as db:
            cursor = db.execute(f"INSERT INTO sessions ({columns}) VALUES ({marks})", row)
        return int(cursor.lastrowid or 0)

    def sittings(self) -> list[Sitting]:
        """Every session, oldest first."""
        with self.journal.transaction() as db:
            rows = db.execute("SELECT * FROM sessions ORDER BY started_at, id").fetchall()
        out = []
        for row in rows:
            values = dict(row)
            values["options"] = json.loads(values["options"] or "{}")
            out.append(Sitting(**values))
        return out

    def delete(self, sitting_id: int | None) -> int:
        """Remove one session (or, with None, all of them); returns how many went."""
        with self.journal.transaction() as db:
            if sitting_id is None:
                return db.execute("DELETE FROM sessions").rowcount
            return db.execute("DELETE FROM sessions WHERE id = ?", (sitting_id,)).rowcount

    def to_resume(self, now: dt.datetime) -> Sitting | None:
        """The latest guided session, if it stopped part-way within RESUME_WITHIN_S."""
        guided = [s for s in self.sittings() if s.kind == KIND_GUIDE]
        if not guided or guided[-1].stopped_at_s is None:
            return None
        ended = dt.datetime.fromisoformat(guided[-1].ended_at)
        return guided[-1] if (now - ended).total_seconds() <= RESUME_WITHIN_S else None


@dataclass(frozen=True)
class Week:
    monday: dt.date
    sittings: tuple[Sitting, ...]

    @property
    def minutes(self) -> float:
        return sum(s.heard_s for s in self.sittings) / 60


def by_week(sittings: list[Sitting]) -> list[Week]:
    """Sessions grouped by the week (Monday first) in which they began, oldest first."""
    weeks: dict[dt.date, list[Sitting]] = {}
    for sitting in sittings:
        day = dt.datetime.fromisoformat(sitting.started_at).date()
        weeks.setdefault(day - dt.timedelta(days=day.weekday()), []).append(sitting)
    return [Week(monday, tuple(items)) for monday, items in sorted(weeks.items())]


def sessions_markdown(sittings: list[Sitting]) -> str:
    """The history as a part of the Markdown export: one line per session, by week."""
    if not sittings:
        return ""
    lines = ["", "# Sessions", ""]
    for week in by_week(sittings):
        lines += [f"## Week of {week.monday:%d %B %Y}: {week.minutes:.0f} minutes", ""]
        for s in week.sittings:
            when = dt.datetime.fromisoformat(s.started_at)
            heard, length = round(s.heard_s / 60, 1), round(s.length_s / 60, 1)
            plural = "s" if s.reflections != 1 else ""
            kept = f"; {s.reflections} reflection{plural} kept" if s.reflections else ""
            lines.append(
                f"- {when:%a %d %b %H:%M} · {s.practice}: {heard:g} of {length:g} min{kept}"
            )
        lines.append("")
    return "\n".join(lines)
