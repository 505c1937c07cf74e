"""render, batch, check, practices, voices: scripts into sound."""

from __future__ import annotations

import argparse
import difflib
import sys
from pathlib import Path

from .. import batch
from ..devices import play
from ..encode import FORMATS, choose_output
from ..engines import default_voice, unavailable_reason
from ..errors import ScriptError, SetupError, UsageError
from ..estimate import estimated_length_range_s
from ..practices import practice_names, practice_text
from ..render import (
    check_output,
    check_script,
    load_script,
    preview_samples,
    render_file,
    resolve_voice,
    write_audio,
)
from ..script import MAX_UTTERANCE_CHARS, Section
from ..timeline import utterances
from ..units import format_duration
from ..voices import load_voice, voice_names
from .common import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK, error_text, printable, progress_bar


def cmd_render(args: argparse.Namespace) -> int:
    audio_path, fmt = choose_output(args.script, args.output, args.format)
    with progress_bar() as progress:
        rendered = render_file(
            args.script,
            audio_path,
            fmt,
            voice_name=args.voice,
            duration_s=args.duration,
            jobs=args.jobs,
            progress=progress,
            pace=args.pace,
            background=args.background,
            background_level_db=args.background_level,
        )
    print(
        f"Rendered {format_duration(rendered.duration_s)} at"
        f" {rendered.loudness_lufs:.1f} LUFS ({rendered.synthesized} new clips):"
    )
    for path in (rendered.audio, rendered.captions, rendered.manifest):
        print(f"  {printable(str(path))}")
    if rendered.replaced is not None:
        print(
            f"Removed {printable(str(rendered.replaced))}, rendered earlier under the same"
            " name: the captions and timeline beside it now describe the new file."
        )
    return EXIT_OK


def cmd_batch(args: argparse.Namespace) -> int:
    out_dir = Path(args.output)
    durations = args.duration or [None]
    voices = args.voice or [None]
    jobs = batch.plan(args.paths, out_dir, args.format, durations, voices, args.pace)
    if not jobs:
        raise UsageError(args.paths[0], "no scripts (.md files) found here")
    check_output(out_dir / "index.json", "-o")
    with batch.folder_lock(out_dir):
        return _run_batch(args, out_dir, jobs)


def _run_batch(args: argparse.Namespace, out_dir: Path, jobs: list[batch.Job]) -> int:
    batch.remove_stale_parts(out_dir)
    workers = max(1, min(args.jobs, len(jobs)))
    on_terminal = sys.stderr.isatty()
    done = 0

    def report(outcome: batch.Outcome) -> None:
        nonlocal done
        done += 1
        if on_terminal:
            progress.advance()
            progress.describe(printable(Path(outcome.job.output).name))
        else:
            shown = printable(outcome.job.output)
            print(f"[{done}/{len(jobs)}] {outcome.status}: {shown}", flush=True)

    with progress_bar() as progress:
        progress.start(f"Rendering {len(jobs)} files", len(jobs))
        outcomes = batch.run_batch(jobs, workers, force=args.force, on_outcome=report)
    index_path, playlist_path = batch.write_index(out_dir, outcomes)
    counts = {s: 0 for s in (batch.STATUS_RENDERED, batch.STATUS_SKIPPED, batch.STATUS_FAILED)}
    for outcome in outcomes:
        counts[outcome.status] += 1
    # A mistake in a script fails every length and voice of it alike: said once.
    reasons = dict.fromkeys(
        reason
        for outcome in outcomes
        if outcome.status == batch.STATUS_FAILED
        for reason in outcome.reasons or (outcome.reason,)
    )
    for reason in reasons:
        print(f"failed: {printable(reason)}", file=sys.stderr)
    print(
        f"{counts['rendered']} rendered, {counts['skipped']} up to date,"
        f" {counts['failed']} failed; index: {printable(str(index_path))},"
        f" playlist: {printable(str(playlist_path))}"
    )
    return EXIT_FAILED if counts["failed"] else EXIT_OK


def cmd_check(args: argparse.Namespace) -> int:
    worst = EXIT_OK
    for source in args.scripts:
        try:
            script = check_script(source)
        except ScriptError as err:
            print(error_text(err), file=sys.stderr)
            worst = EXIT_BAD_INPUT
            continue
        sections = sum(1 for item in script.items if isinstance(item, Section))
        count = len(utterances(script))
        print(f"{printable(source)}: ok ({count} utterances, {sections} sections)")
    return worst


def cmd_practices(args: argparse.Namespace) -> int:
    if args.action == "show":
        known = ", ".join(practice_names())
        if not args.name:
            raise UsageError(
                "practices show",
                f"name a practice to show, e.g. selfkind practices show {known.split(',')[0]}"
                f" (built-in: {known})",
            )
        data = practice_text(args.name)
        if data is None or "/" in args.name:
            raise UsageError(
                args.name, f"no built-in practice by that name; choose one of: {known}"
            )
        sys.stdout.write(data.decode("utf-8"))
        return EXIT_OK
    # Lengths are estimated from the text (no synthesis), so the list answers at once.
    rows = []
    for name in _tagged(args.tag or []):
        script = load_script(name)
        low_s, high_s = estimated_length_range_s(script, resolve_voice(script, None))
        if args.fits is None or low_s <= args.fits <= high_s:
            rows.append((name, script, low_s, high_s))
    if not rows:
        print(f"No built-in practice can last {format_duration(args.fits)} with those tags.")
        return EXIT_OK
    print(f"{'NAME':26} {'TITLE':28} {'USUAL':>5}  {'CAN BE (about)':>14}  TAGS")
    for name, script, low_s, high_s in rows:
        default = format_duration(script.front.duration_s) if script.front.duration_s else "-"
        span = f"~{format_duration(low_s)}-{format_duration(high_s)}"
        tags = ", ".join(script.front.tags)
        print(printable(f"{name:26} {script.title:28} {default:>5}  {span:>14}  {tags}"))
        if script.front.description:
            print(printable(f"    {script.front.description}"))
        if script.front.content_note:
            print(printable(f"    Content note: {script.front.content_note}"))
    print("\nRead one with: selfkind practices show NAME; hear it with: selfkind guide NAME")
    return EXIT_OK


def _tagged(wanted: list[str]) -> list[str]:
    """The practices carrying every tag in ``wanted``; a tag no practice has is a typo."""
    tags = {name: set(load_script(name).front.tags) for name in practice_names()}
    known = sorted(set().union(*tags.values()))
    for tag in wanted:
        if tag not in known:
            close = difflib.get_close_matches(tag, known, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise UsageError(
                "--tag", f"no practice is tagged '{tag}'{hint} (tags: {', '.join(known)})"
            )
    return [name for name, have in tags.items() if have.issuperset(wanted)]


PREVIEW_TEXT = (
    "Welcome. Let yourself settle, and take one slow breath in, and out. You are doing enough."
)


def cmd_voices(args: argparse.Namespace) -> int:
    if args.action == "preview":
        return _preview_voice(args)
    chosen, why = default_voice()
    for name in voice_names():
        profile = load_voice(name)
        reason = unavailable_reason(profile)
        status = "ready" if reason is None else f"not usable: {reason}"
        shown = printable(f"{name:12} {profile.engine:7} {profile.description}")
        print(f"{shown}  [{printable(status)}]")
    print(printable(f"Default voice: {chosen} ({why}); choose another with --voice NAME."))
    return EXIT_OK


def _preview_voice(args: argparse.Namespace) -> int:
    if not args.name:
        raise UsageError("voices preview", "name a voice to preview (see: selfkind voices)")
    try:
        profile = load_voice(args.name)
    except KeyError:
        known = ", ".join(voice_names())
        raise UsageError(args.name, f"unknown voice (known: {known})") from None
    if args.text and len(args.text) > MAX_UTTERANCE_CHARS:
        raise UsageError("text", f"a preview says at most {MAX_UTTERANCE_CHARS} characters")
    reason = unavailable_reason(profile)
    if reason:
        raise SetupError(f"voice '{profile.name}' cannot speak here: {reason}")
    samples, rate = preview_samples(profile, args.text or PREVIEW_TEXT)
    if args.output:
        path = Path(args.output)
        fmt = path.suffix.lower().lstrip(".")
        if fmt not in FORMATS:
            raise UsageError("-o", f"'{args.output}' should end in one of: {', '.join(FORMATS)}")
        write_audio(samples, rate, path, fmt, f"{profile.name} voice preview")
        print(path)
    else:
        play(samples, rate)
    return EXIT_OK
