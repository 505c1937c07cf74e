"""history, and what the guide and the timer keep there: when, what, and how much was heard."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

from ..errors import JournalError, UsageError
from ..guide.player import Player
from ..journal.history import KIND_GUIDE, HeardClock, History, Sitting, by_week
from ..script import Script
from .common import EXIT_OK, clock
from .listen import open_journal


def now() -> dt.datetime:
    return dt.datetime.now().astimezone()


def remember(
    args: argparse.Namespace,
    script: Script,
    player: Player,
    heard: HeardClock,
    started_at: dt.datetime,
    reflections: int,
) -> None:
    """Keep the session in the history (unless --no-history); offer to resume a guided
    session stopped part-way. A journal that cannot be used costs the record, not the session."""
    timeline = player.timeline
    if getattr(args, "no_history", False) or timeline is None:
        return
    kind = getattr(args, "history_kind", KIND_GUIDE)
    stopped = player.position_s < timeline.duration_s - 1
    section = player.current("section") if stopped else None
    sitting = Sitting(
        started_at=started_at.isoformat(timespec="seconds"),
        ended_at=now().isoformat(timespec="seconds"),
        kind=kind,
        practice=script.title,
        length_s=timeline.duration_s,
        heard_s=round(heard.heard_s, 1),
        source=_source(getattr(args, "script", "") or ""),
        options={"duration_s": args.duration, "voice": args.voice},
        reflections=reflections,
        stopped_at_s=(section.start_s if section else 0.0) if stopped else None,
        stopped_in=section.text if section else "",
    )
    try:
        with open_journal(args) as store:
            History(store).add(sitting)
    except JournalError as err:
        print(f"selfkind: this session was not added to your history: {err}", file=sys.stderr)
        return
    if stopped and kind == KIND_GUIDE:
        where = f' from "{sitting.stopped_in}"' if sitting.stopped_in else ""
        print(f"To carry on{where} within a day: selfkind guide --resume")


def _source(script: str) -> str:
    """A script file by its full path, so that it can be resumed from any folder."""
    return str(Path(script).resolve()) if script and Path(script).is_file() else script


def resume_into(args: argparse.Namespace) -> None:
    """Point the guide's options at the session to resume, or say why there is none."""
    with open_journal(args) as store:
        sitting = History(store).to_resume(now())
    if sitting is None:
        raise UsageError(
            "--resume", "nothing to resume: no guided session stopped part-way in the last day"
        )
    if args.script and _source(args.script) != sitting.source:
        raise UsageError(
            "--resume",
            f"the session to resume is {sitting.practice} ({sitting.source});"
            " run: selfkind guide --resume",
        )
    args.script = sitting.source
    duration = sitting.options.get("duration_s")
    voice = sitting.options.get("voice")
    args.duration = args.duration or (float(duration) if duration is not None else None)
    args.voice = args.voice or (str(voice) if voice else None)
    args.resume_from_s = sitting.stopped_at_s or 0.0
    where = f' at "{sitting.stopped_in}"' if sitting.stopped_in else ""
    print(f"Carrying on with {sitting.practice}{where} ({clock(args.resume_from_s)}).")


def _confirm(what: str) -> bool:
    """Ask before deleting, on a terminal, as journal delete does; without one, --yes."""
    if not sys.stdin.isatty():
        raise UsageError(
            "history delete",
            f"deleting {what} cannot be undone and there is no terminal to ask on;"
            " to delete anyway, add --yes",
        )
    try:
        answer = input(f"Delete {what} from your history for good? [y/N] ")
    except EOFError:
        return False
    return answer.strip().lower() in ("y", "yes")


def cmd_history(args: argparse.Namespace) -> int:
    with open_journal(args) as store:
        history = History(store)
        if args.action == "delete":
            if args.all == bool(args.id):
                raise UsageError("history delete", "give one session number, or --all")
            what = "every session" if args.all else f"session {args.id}"
            if not args.all and not (
                args.id.isdigit() and any(s.id == int(args.id) for s in history.sittings())
            ):
                raise UsageError(
                    "history delete", f"no session '{args.id}' (see: selfkind history)"
                )
            if not args.yes and not _confirm(what):
                print("Nothing was deleted.")
                return EXIT_OK
            count = history.delete(None if args.all else int(args.id))
            print(f"Deleted {count} {'session' if count == 1 else 'sessions'} from your history.")
            return EXIT_OK
        weeks = by_week(history.sittings())
    if not weeks:
        print("No sessions yet. Whenever you are ready: selfkind practices")
    for week in weeks:
        count = len(week.sittings)
        print(
            f"Week of {week.monday:%d %b %Y}: {count} {'session' if count == 1 else 'sessions'},"
            f" {week.minutes:.0f} {'minute' if round(week.minutes) == 1 else 'minutes'}"
        )
        for s in week.sittings:
            when = dt.datetime.fromisoformat(s.started_at)
            heard = f"{clock(s.heard_s)} of {clock(s.length_s)}"
            kept = f", {s.reflections} reflection{'s' if s.reflections != 1 else ''}"
            print(
                f"  {s.id:4}  {when:%a %d %b %H:%M}  {s.practice[:30]:30} {heard}"
                f"{kept if s.reflections else ''}"
            )
    return EXIT_OK
