"""timer: silence marked by bells, live on the sound card or rendered to a file."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..encode import choose_output
from ..errors import UsageError
from ..render import prepare_session, render_session
from ..script import BUILTIN_BACKGROUNDS
from ..synth import SESSION_RATE_HZ
from ..timer import TimerOptions, planned_bells, timer_script
from ..units import format_duration
from .common import EXIT_OK, clock, progress_bar
from .guide import play_script


def timer_options(args: argparse.Namespace) -> TimerOptions:
    background = args.background
    if background not in BUILTIN_BACKGROUNDS and not Path(background).expanduser().is_file():
        raise UsageError(
            "--background",
            f"no audio file '{background}' (or use one of: {', '.join(BUILTIN_BACKGROUNDS)})",
        )
    bells = tuple(args.bells) if args.bells is not None else ("start", "interval", "end")
    return TimerOptions(args.length, args.interval, bells, args.warmup, background)


def cmd_timer(args: argparse.Namespace) -> int:
    if args.format and not args.output:
        raise UsageError("--format", "a format is for rendering: add -o FILE")
    options = timer_options(args)
    script = timer_script(options, SESSION_RATE_HZ)
    bells = planned_bells(options, SESSION_RATE_HZ)
    marks = ", ".join(f"{b.kind} {clock(b.start_s(SESSION_RATE_HZ))}" for b in bells[:6])
    more = f" and {len(bells) - 6} more" if len(bells) > 6 else ""
    print(f"{script.title}. Bells: {marks or 'none'}{more}.", flush=True)
    if args.output is None:
        every = f" --interval {format_duration(args.interval)}" if args.interval else ""
        again = f"selfkind timer {format_duration(args.length)}{every} -o timer.mp3"
        return play_script(script, args, again)
    audio_path, fmt = choose_output("timer", args.output, args.format)
    with progress_bar() as progress:
        rendered = render_session(prepare_session(script), audio_path, fmt, progress)
    print(f"Rendered {format_duration(rendered.duration_s)}:")
    for path in (rendered.audio, rendered.captions, rendered.manifest):
        print(f"  {path}")
    return EXIT_OK
