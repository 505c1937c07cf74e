"""The ``selfkind`` command. The only place that prints, reads options or picks exit codes.

Exit codes: 0 done; 1 something is missing on the machine or failed outside the user's files;
2 a bad script, file or option (``FILE:LINE:COL: what is wrong``); 130 stopped with Ctrl-C.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import sys
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from . import __version__, batch
from .background import check_background
from .capture import END_SILENCE_S
from .devices import list_devices, microphone_problem, play
from .encode import FORMATS, temporary_beside
from .engines import unavailable_reason
from .errors import ScriptError, SelfkindError, SetupError
from .guide import QUIT_FADE_S, Player, Reflections
from .mix import SessionMix
from .practices import practice_names, practice_text
from .render import (
    Progress,
    load_script,
    prepare_session,
    preview_samples,
    render_file,
    resolve_voice,
    script_length_range,
    write_audio,
)
from .script import Reflect, Script, Section, format_duration, parse_duration
from .synth import SESSION_RATE_HZ
from .terminal import KeyReader
from .timeline import Event, utterances
from .voices import load_voice, voice_names

if TYPE_CHECKING:
    from .journal import Journal
    from .transcribe import Recognizer

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130
T = TypeVar("T")


class BarProgress(Progress):
    """A rich progress bar on stderr, shown only when stderr is a terminal."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            TaskProgressColumn,
            TextColumn,
        )
        from rich.progress import (
            Progress as RichProgress,
        )

        self._bar = RichProgress(
            TextColumn("{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            console=Console(stderr=True),
            transient=True,
        )
        self._task: int | None = None

    def __enter__(self) -> BarProgress:
        self._bar.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._bar.stop()

    def start(self, label: str, total: int) -> None:
        if self._task is not None:
            self._bar.remove_task(self._task)
        self._task = self._bar.add_task(label, total=max(total, 1))

    def advance(self, amount: int = 1) -> None:
        if self._task is not None:
            self._bar.advance(self._task, amount)

    def describe(self, text: str) -> None:
        if self._task is not None:
            self._bar.update(self._task, description=text)


def _progress() -> Progress:
    return BarProgress() if sys.stderr.isatty() else Progress()


def _duration_option(text: str) -> float:
    try:
        value = parse_duration(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    if value <= 0:
        raise argparse.ArgumentTypeError("the duration must be longer than zero")
    return value


def _seconds_option(text: str) -> float:
    try:
        return parse_duration(text) if text not in ("0", "0s") else 0.0
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _output_and_format(source: str, output: str | None, fmt: str | None) -> tuple[Path, str]:
    """-o and --format agree, or one is inferred from the other; default out/<stem>.mp3."""
    if output:
        path = Path(output)
        suffix = path.suffix.lower().lstrip(".")
        if fmt is None:
            if suffix not in FORMATS:
                raise ScriptError(
                    "-o",
                    0,
                    0,
                    f"cannot tell the format from '{output}'; add --format ({'|'.join(FORMATS)})",
                )
            fmt = suffix
        elif suffix != fmt:
            raise ScriptError("-o", 0, 0, f"'{output}' does not end in .{fmt}, as --format asks")
        return path, fmt
    fmt = fmt or "mp3"
    return Path("out") / f"{Path(source).stem}.{fmt}", fmt


def cmd_render(args: argparse.Namespace) -> int:
    audio_path, fmt = _output_and_format(args.script, args.output, args.format)
    with _progress() as progress:
        rendered = render_file(
            args.script,
            audio_path,
            fmt,
            voice_name=args.voice,
            duration_s=args.duration,
            jobs=args.jobs,
            progress=progress,
        )
    print(
        f"Rendered {format_duration(rendered.duration_s)} at"
        f" {rendered.loudness_lufs:.1f} LUFS ({rendered.synthesized} new clips):"
    )
    for path in (rendered.audio, rendered.captions, rendered.manifest):
        print(f"  {path}")
    return EXIT_OK


SAFETY_NOTE = "You can stop at any time: press q (or Ctrl-C) and the session will close gently."
KEYS_HELP = (
    "space: pause/resume   n or \u2192: next section   b or \u2190: back   q: stop"
    "   enter: done speaking"
)
LISTENING_NOTE = (
    "At the reflection steps, selfkind listens through your microphone (a soft chime marks"
    " it) and keeps what you say in your private journal on this computer. To keep them"
    " quiet instead, use --no-reflect."
)


def _device_option(text: str | None) -> int | str | None:
    if text is None:
        return None
    return int(text) if text.isdigit() else text


def _clock(seconds: float) -> str:
    minutes, secs = divmod(max(int(seconds), 0), 60)
    return f"{minutes}:{secs:02d}"


class GuideView:
    """What the listener sees: one live line on a terminal, plain log lines otherwise."""

    def __init__(
        self, player: Player, interactive: bool, reflections: Reflections | None = None
    ) -> None:
        self.player = player
        self.interactive = interactive
        self.reflections = reflections
        self._last: tuple[str, str] = ("", "")

    def tick(self) -> None:
        player = self.player
        if self.reflections is not None:
            self._say_messages()
        if player.timeline is None or player.status.frame < 0:
            if self.interactive:
                self._line("Settling in...")
            return
        section = player.current("section")
        caption = player.current("speech")
        section_text = section.text if section else ""
        caption_text = caption.text if caption else ""
        if self.reflections is not None and self.reflections.listening:
            caption_text = "(listening)"
            if self.interactive and self.reflections.partial:
                caption_text = f"(listening) {self.reflections.partial[-60:]}"
        elapsed, total = player.position_s, player.timeline.duration_s
        if self.interactive:
            width = shutil.get_terminal_size((80, 24)).columns
            done = int(20 * min(elapsed / total, 1.0)) if total else 0
            state = "paused" if player.status.paused else ""
            bar = "#" * done + "." * (20 - done)
            head = f"{section_text} {_clock(elapsed)}/{_clock(total)} [{bar}] {state}"
            self._line(f"{head} {caption_text}"[: width - 1])
        elif (section_text, caption_text) != self._last:
            if section_text != self._last[0] and section_text:
                print(f"[{_clock(elapsed)}] {section_text}", flush=True)
            if caption_text != self._last[1] and caption_text:
                print(f"[{_clock(elapsed)}]   {caption_text}", flush=True)
            self._last = (section_text, caption_text)

    def _say_messages(self) -> None:
        assert self.reflections is not None
        while not self.reflections.messages.empty():
            text = self.reflections.messages.get()
            if self.interactive:
                self._line("")
            print(f"[{_clock(self.player.position_s)}]   {text}", flush=True)

    def _line(self, text: str) -> None:
        sys.stdout.write("\r\x1b[2K" + text)
        sys.stdout.flush()

    def end(self) -> None:
        if self.reflections is not None:
            self._say_messages()
        if self.interactive:
            sys.stdout.write("\r\x1b[2K")
            sys.stdout.flush()


def _reflections(args: argparse.Namespace, player: Player, script: Script) -> Reflections | None:
    """Listening at the script's reflection steps, or None (asked not to, or no steps)."""
    from .capture import Context, Listener
    from .sounds import LISTEN_CUE_S
    from .transcribe import RecognizerWorker

    if args.no_reflect or not any(isinstance(item, Reflect) for item in script.items):
        return None
    with _open_journal(args) as store:
        journal_path = store.path
    device = _device_option(args.input_device)
    session_id = f"{datetime.now():%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"
    problem = microphone_problem(device)
    if problem:
        reflections = Reflections(player, None)
        reflections.turn_off(problem)
        return reflections
    if _check_recognizer(args.engine, args.model):
        _say_pocketsphinx_stands_in()
    worker = RecognizerWorker(args.engine, args.model)

    def listen(event: Event) -> Listener:
        assert player.timeline is not None
        listener = Listener(
            journal_path, worker.new, event.n_frames / event.sample_rate_hz + 1.0,
            Context(event.text, player.timeline.title, session_id), device,
            end_silence_s=args.end_silence, settle_s=LISTEN_CUE_S + 0.2,
            on_partial=reflections.on_partial,
        )  # fmt: skip
        listener.start()
        return listener

    reflections = Reflections(player, listen)
    reflections.on_close = worker.close
    return reflections


def _say_kept(reflections: Reflections | None) -> None:
    kept = [r for r in (reflections.kept if reflections else []) if r.entry_id]
    if kept:
        print(
            f"What you said is in your private journal ({len(kept)}"
            f" {'entry' if len(kept) == 1 else 'entries'}): selfkind journal list"
        )


def cmd_guide(args: argparse.Namespace) -> int:
    script = load_script(args.script)
    resolve_voice(script, args.voice)
    check_background(script, script.front.background)
    interactive = sys.stdin.isatty() and sys.stdout.isatty()

    def prepare() -> SessionMix:
        return prepare_session(script, args.voice, args.duration).mix

    player = Player(prepare, SESSION_RATE_HZ, _device_option(args.output_device), args.delay)
    reflections = _reflections(args, player, script)
    try:
        player.start()
    except SetupError:
        raise
    except Exception as err:  # PortAudio's errors are plain exceptions from its C layer
        player.close()
        raise SetupError(
            f"no sound output device could be opened ({err}); to listen later, render the"
            f" session to a file instead: selfkind render {args.script}"
        ) from None
    print(SAFETY_NOTE, flush=True)
    if reflections is not None and not reflections.off_reason:
        print(LISTENING_NOTE, flush=True)
    if interactive:
        print(KEYS_HELP, flush=True)
    view = GuideView(player, interactive, reflections)

    def tick() -> None:
        if reflections is not None:
            reflections.tick()
        view.tick()

    done_speaking = reflections.done_speaking if reflections else lambda: None
    keys = {
        "space": player.toggle_pause, "p": player.toggle_pause, "n": lambda: player.skip(1),
        "right": lambda: player.skip(1), "b": lambda: player.skip(-1),
        "left": lambda: player.skip(-1), "q": player.quit, "enter": done_speaking,
    }  # fmt: skip
    try:
        if interactive:
            with KeyReader(lambda key: keys.get(key, lambda: None)()):
                player.wait(tick)
        else:
            player.wait(tick)
    except KeyboardInterrupt:
        player.quit()
        with contextlib.suppress(KeyboardInterrupt):
            player.wait(timeout_s=QUIT_FADE_S + 2)
            if reflections is not None:
                reflections.close()
        view.end()
        print(f"Stopped after {_clock(player.position_s)}. That is completely fine.")
        _say_kept(reflections)
        return EXIT_INTERRUPTED
    if reflections is not None:
        reflections.close()
    view.end()
    if player.error is not None:
        raise player.error
    timeline = player.timeline
    quit_early = timeline is not None and player.position_s < timeline.duration_s - 1
    if quit_early:
        print(f"Stopped after {_clock(player.position_s)}. That is completely fine.")
    else:
        print("The session has ended. Thank you for taking this time for yourself.")
    _say_kept(reflections)
    if player.status.underruns:
        print(f"(audio fell behind {player.status.underruns} times)", file=sys.stderr)
    return EXIT_OK


def cmd_devices(args: argparse.Namespace) -> int:
    for device in list_devices():
        roles = []
        if device["max_output_channels"]:
            roles.append("output")
        if device["max_input_channels"]:
            roles.append("input")
        marks = "".join(" (default " + r + ")" for r in device.get("default_for", []))
        print(f"{device['index']:3}  {device['name']:40} {'/'.join(roles)}{marks}")
    return EXIT_OK


def cmd_journal(args: argparse.Namespace) -> int:
    from . import journal as journal_store

    with _open_journal(args) as store:
        if args.action == "list":
            for entry in store.entries():
                words = entry.transcript or f"({entry.status})"
                print(
                    f"{entry.id:4}  {entry.started_at[:16]}  {entry.practice[:24]:24}  {words[:60]}"
                )
        elif args.action == "search":
            if not args.argument:
                raise ScriptError("journal search", 0, 0, "say what to search for")
            for entry in store.search(args.argument):
                print(f"{entry.id:4}  {entry.started_at[:16]}  {entry.transcript[:70]}")
        elif args.action in ("show", "delete"):
            entry_id = int(args.argument) if (args.argument or "").isdigit() else 0
            entry = store.get(entry_id)
            if entry is None:
                raise ScriptError(
                    "journal", 0, 0, f"no entry '{args.argument}' (see: selfkind journal list)"
                )
            if args.action == "delete":
                store.delete(entry_id)
                print(f"Deleted entry {entry_id}, with its audio.")
            else:
                sys.stdout.write(journal_store.export_markdown([entry]))
        elif args.action == "transcribe":
            from .transcribe import transcribe_file

            if args.pending or args.argument is None:
                targets = store.entries("pending")
            else:
                found = store.get(int(args.argument)) if args.argument.isdigit() else None
                if found is None:
                    raise ScriptError("journal", 0, 0, f"no entry '{args.argument}'")
                targets = [found]
            make_recognizer = _recognizer_source(args.engine, args.model)
            for entry in targets:
                audio = store.audio_path(entry)
                if audio is None or not audio.is_file():
                    print(f"entry {entry.id}: no audio kept", file=sys.stderr)
                    continue
                result = transcribe_file(audio, make_recognizer())
                words = [w.__dict__ for w in result.words]
                store.update_transcript(entry.id, result.text, words, result.engine, result.model)
                print(f"{entry.id:4}  {result.text}")
        elif args.action == "export":
            entries = store.entries()
            text = (
                journal_store.export_json(entries)
                if args.format == "json"
                else journal_store.export_markdown(entries)
            )
            if args.output:
                write_private(Path(args.output), text)
                print(args.output)
            else:
                sys.stdout.write(text)
    return EXIT_OK


def write_private(path: Path, text: str) -> None:
    """An export of the journal is as private as the journal: 0600, written atomically."""
    temp = temporary_beside(path)
    try:
        os.chmod(temp, 0o600)
        temp.write_text(text, encoding="utf-8")
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)


def _check_recognizer(engine: str, model: str | None) -> bool:
    """Check the recognizer options before any work (a wrong --model is said at once, not
    after someone has spoken). Returns whether PocketSphinx stands in for Vosk."""
    from .transcribe import find_vosk_model

    if engine == "pocketsphinx":
        return False
    found = find_vosk_model(model)  # raises SetupError for a --model that is not a model
    if engine == "vosk" and found is None:
        raise SetupError(
            "no Vosk model is installed; add one with: selfkind models install MODEL.zip"
        )
    return found is None


def _say_pocketsphinx_stands_in() -> None:
    print(
        "Transcribing with PocketSphinx. For better accuracy, install a Vosk model:"
        " selfkind models install MODEL.zip",
        file=sys.stderr,
    )


def _recognizer_source(engine: str, model: str | None) -> Callable[[], Recognizer]:
    """A fresh recognizer per use (each holds one utterance's state), options checked."""
    from .transcribe import open_recognizer

    if _check_recognizer(engine, model):
        _say_pocketsphinx_stands_in()
    return lambda: open_recognizer(engine, model)


def _open_journal(args: argparse.Namespace) -> Journal:
    """The journal asked for (--journal, else the data folder), with recordings cut off
    last time recovered into it first and said on stderr."""
    from .capture import recover
    from .journal import Journal

    store = Journal(Path(args.journal) if args.journal else None)
    problems = lambda message: print(f"selfkind: {message}", file=sys.stderr)  # noqa: E731
    for entry_id in recover(store, problems):
        print(
            f"A recording cut off last time is kept as journal entry {entry_id}"
            " (transcribe it with: selfkind journal transcribe --pending).",
            file=sys.stderr,
        )
    return store


def cmd_reflect(args: argparse.Namespace) -> int:
    from .capture import Context, Listener, record
    from .transcribe import open_recognizer

    with _open_journal(args) as store:
        journal_path = store.path
    stand_in = _check_recognizer(args.engine, args.model)
    device = _device_option(args.input_device)
    problem = microphone_problem(device)
    if problem:
        raise SetupError(problem)
    if stand_in:
        _say_pocketsphinx_stands_in()
    interactive = sys.stdout.isatty()

    def show_partial(text: str) -> None:
        if interactive and text:
            width = shutil.get_terminal_size((80, 24)).columns
            sys.stdout.write("\r\x1b[2K" + text[-(width - 1) :])
            sys.stdout.flush()

    listener = Listener(
        journal_path, lambda: open_recognizer(args.engine, args.model), args.max,
        Context(prompt=args.prompt or ""), device,
        end_silence_s=args.end_silence,
        on_partial=show_partial,
    )  # fmt: skip
    if args.prompt:
        print(args.prompt)
    print(
        "Listening. Take your time; it stops a few seconds after you finish (or press Ctrl-C).",
        flush=True,
    )
    reflection = record(listener)
    if interactive:
        sys.stdout.write("\r\x1b[2K")
    if listener.recognizer_error is not None:
        print(f"selfkind: {listener.recognizer_error}", file=sys.stderr)
    if not reflection.entry_id:
        print("Nothing was heard, so nothing was kept.")
        return EXIT_OK
    how = "to transcribe later" if reflection.status == "pending" else reflection.transcript
    print(f"Kept in your journal as entry {reflection.entry_id}: {how}")
    return EXIT_OK


def cmd_transcribe(args: argparse.Namespace) -> int:
    from .transcribe import TranscribeError, transcribe_file

    make_recognizer = _recognizer_source(args.engine, args.model)
    failed = 0
    results = []
    for name in args.audio:
        try:
            transcript = transcribe_file(Path(name), make_recognizer())
        except TranscribeError as err:
            print(f"selfkind: {err}", file=sys.stderr)
            failed += 1
            continue
        if args.json:
            results.append({"file": name, **transcript.to_dict()})
        else:
            print(f"{name}: {transcript.text}" if len(args.audio) > 1 else transcript.text)
    if args.json:
        print(json.dumps(results, indent=2, ensure_ascii=False))
    return EXIT_FAILED if failed else EXIT_OK


def cmd_models(args: argparse.Namespace) -> int:
    from . import models
    from .transcribe import find_vosk_model

    if args.action == "list":
        active = find_vosk_model()
        for path in models.installed():
            print(f"{path.name}{'  (used)' if path == active else ''}  {path}")
        if not models.installed():
            print("No Vosk model installed; transcription uses PocketSphinx's English model.")
        return EXIT_OK
    if not args.source:
        raise ScriptError(f"models {args.action}", 0, 0, "name a model (zip, folder or URL)")
    if args.action == "remove":
        print(f"Removed {models.remove(args.source)}")
        return EXIT_OK
    with _progress() as progress:
        progress.start("Downloading", 1)
        state = {"total": 0}

        def on_progress(done: int, total: int) -> None:
            if total and total != state["total"]:
                state["total"] = total
                progress.start("Downloading", total)
            progress.advance(done - getattr(on_progress, "done", 0))
            on_progress.done = done  # type: ignore[attr-defined]

        path = models.install(args.source, args.sha256, on_progress)
    print(f"Installed {path.name} at {path}")
    return EXIT_OK


def _list_option(parse: Callable[[str], T]) -> Callable[[str], list[T]]:
    def parse_list(text: str) -> list[T]:
        return [parse(part.strip()) for part in text.split(",") if part.strip()]

    return parse_list


def cmd_batch(args: argparse.Namespace) -> int:
    out_dir = Path(args.output)
    durations = args.duration or [None]
    voices = args.voice or [None]
    jobs = batch.plan(args.paths, out_dir, args.format, durations, voices)
    if not jobs:
        raise ScriptError(args.paths[0], 0, 0, "no scripts (.md files) found here")
    batch.remove_stale_parts(out_dir)
    workers = max(1, min(args.jobs, len(jobs)))
    on_terminal = sys.stderr.isatty()
    done = 0

    def report(outcome: batch.Outcome) -> None:
        nonlocal done
        done += 1
        if on_terminal:
            progress.advance()
            progress.describe(f"{Path(outcome.job.output).name}")
        else:
            print(f"[{done}/{len(jobs)}] {outcome.status}: {outcome.job.output}", flush=True)

    with _progress() as progress:
        progress.start(f"Rendering {len(jobs)} files", len(jobs))
        outcomes = batch.run_batch(jobs, workers, force=args.force, on_outcome=report)
    index_path, playlist_path = batch.write_index(out_dir, outcomes)
    counts = {s: 0 for s in (batch.STATUS_RENDERED, batch.STATUS_SKIPPED, batch.STATUS_FAILED)}
    for outcome in outcomes:
        counts[outcome.status] += 1
    for outcome in outcomes:
        if outcome.status == batch.STATUS_FAILED:
            print(f"failed: {outcome.reason}", file=sys.stderr)
    print(
        f"{counts['rendered']} rendered, {counts['skipped']} up to date,"
        f" {counts['failed']} failed; index: {index_path}, playlist: {playlist_path}"
    )
    return EXIT_FAILED if counts["failed"] else EXIT_OK


def cmd_check(args: argparse.Namespace) -> int:
    worst = EXIT_OK
    for source in args.scripts:
        try:
            script = load_script(source)
            resolve_voice(script, None)
            check_background(script, script.front.background)
        except ScriptError as err:
            print(err, file=sys.stderr)
            worst = EXIT_BAD_INPUT
            continue
        sections = sum(1 for item in script.items if isinstance(item, Section))
        print(f"{source}: ok ({len(utterances(script))} utterances, {sections} sections)")
    return worst


def cmd_practices(args: argparse.Namespace) -> int:
    if args.action == "show":
        data = practice_text(args.name or "")
        if data is None:
            known = ", ".join(practice_names())
            raise ScriptError(args.name or "", 0, 0, f"no built-in practice by that name ({known})")
        sys.stdout.write(data.decode("utf-8"))
        return EXIT_OK
    rows = []
    with _progress() as progress:
        names = practice_names()
        progress.start("Measuring the practices", len(names))
        for name in names:
            script = load_script(name)
            low_s, high_s = script_length_range(script, jobs=args.jobs)
            rows.append((name, script, low_s, high_s))
            progress.advance()
    for name, script, low_s, high_s in rows:
        default = format_duration(script.front.duration_s) if script.front.duration_s else "-"
        span = f"{format_duration(low_s)}-{format_duration(high_s)}"
        tags = ", ".join(script.front.tags)
        print(f"{name:26} {script.title:28} {default:>4}  ({span:>11})  {tags}")
    return EXIT_OK


PREVIEW_TEXT = (
    "Welcome. Let yourself settle, and take one slow breath in, and out. You are doing enough."
)


def cmd_voices(args: argparse.Namespace) -> int:
    if args.action == "preview":
        return _preview_voice(args)
    for name in voice_names():
        profile = load_voice(name)
        reason = unavailable_reason(profile)
        status = "ready" if reason is None else f"not usable: {reason}"
        print(f"{name:12} {profile.engine:7} {profile.description}  [{status}]")
    return EXIT_OK


def _preview_voice(args: argparse.Namespace) -> int:
    if not args.name:
        raise ScriptError("voices preview", 0, 0, "name a voice to preview (see: selfkind voices)")
    try:
        profile = load_voice(args.name)
    except KeyError:
        known = ", ".join(voice_names())
        raise ScriptError(args.name, 0, 0, f"unknown voice (known: {known})") from None
    reason = unavailable_reason(profile)
    if reason:
        raise SetupError(f"voice '{profile.name}' cannot speak here: {reason}")
    samples, rate = preview_samples(profile, args.text or PREVIEW_TEXT)
    if args.output:
        path = Path(args.output)
        fmt = path.suffix.lower().lstrip(".")
        if fmt not in FORMATS:
            raise ScriptError(
                "-o", 0, 0, f"'{args.output}' should end in one of: {', '.join(FORMATS)}"
            )
        write_audio(samples, rate, path, fmt, f"{profile.name} voice preview")
        print(path)
    else:
        play(samples, rate)
    return EXIT_OK


def _add_jobs(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument(
        "--jobs", type=int, default=os.cpu_count() or 1, help=f"{what} (default: the cores)"
    )


def _add_recognizer_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--engine",
        choices=("auto", "vosk", "pocketsphinx"),
        default="auto",
        help="speech recognizer (default: Vosk if a model is installed, else PocketSphinx)",
    )
    parser.add_argument("--model", help="Vosk model folder")


def _add_journal_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--journal", help="journal database to use (default: your data folder)")


def _add_listening_options(parser: argparse.ArgumentParser) -> None:
    """What capturing a spoken reflection needs: guide and reflect share these."""
    parser.add_argument("--input-device", help="microphone, by number or name (selfkind devices)")
    parser.add_argument(
        "--end-silence", type=_duration_option, default=END_SILENCE_S,
        help=f"quiet after speech that means you have finished (default {END_SILENCE_S:g}s)",
    )  # fmt: skip
    _add_journal_option(parser)
    _add_recognizer_options(parser)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="selfkind",
        description="Voice-guided self-compassion practice, offline: render scripts to audio.",
    )
    parser.add_argument("--version", action="version", version=f"selfkind {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    render = commands.add_parser(
        "render",
        help="render a script or built-in practice to an audio file with captions",
        description="Render a script (a .md file, or the name of a built-in practice) to an"
        " audio file, with WebVTT captions and a JSON timeline beside it.",
    )
    render.add_argument("script", help="script file, or a built-in practice name")
    render.add_argument("-o", "--output", help="audio file to write (default out/<name>.<format>)")
    render.add_argument("--format", choices=FORMATS, help="audio format (default mp3, or from -o)")
    render.add_argument(
        "--duration", type=_duration_option, help="session length, e.g. 10m; fits the pauses"
    )
    render.add_argument("--voice", help="voice profile name or .toml file (see 'selfkind voices')")
    _add_jobs(render, "speech synthesis processes")
    render.set_defaults(run=cmd_render)

    batch_parser = commands.add_parser(
        "batch",
        help="render many scripts, at several lengths and in several voices",
        description="Render every script found (folders are searched recursively; built-in"
        " practice names work too) for every length and voice asked for, skipping outputs"
        " that are up to date. Writes index.json and playlist.m3u in the output folder."
        " Exit 1 if any script failed.",
    )
    batch_parser.add_argument("paths", nargs="+", metavar="PATH", help="scripts or folders")
    batch_parser.add_argument("-o", "--output", required=True, help="output folder")
    batch_parser.add_argument("--format", choices=FORMATS, default="mp3")
    batch_parser.add_argument(
        "--duration",
        type=_list_option(_duration_option),
        help="lengths, comma-separated (e.g. 5m,10m,20m); default: each script's own",
    )
    batch_parser.add_argument(
        "--voice", type=_list_option(str), help="voices, comma-separated (default: each script's)"
    )
    _add_jobs(batch_parser, "worker processes")
    batch_parser.add_argument("--force", action="store_true", help="render even if up to date")
    batch_parser.set_defaults(run=cmd_batch)

    guide = commands.add_parser(
        "guide",
        help="be guided through a practice live, on the sound card",
        description="Play a script or built-in practice live through the sound card, with"
        " captions. Keys: space pauses, n/right skips a section, b/left goes back, q stops"
        " gently, enter ends listening at a reflection. At [reflect] steps it listens through"
        " the microphone and keeps what you say in your private journal (--no-reflect: it"
        " does not). Without a terminal, it logs plain lines and takes no keys.",
    )
    guide.add_argument("script", help="script file, or a built-in practice name")
    guide.add_argument("--duration", type=_duration_option, help="session length, e.g. 10m")
    guide.add_argument("--voice", help="voice profile name (see 'selfkind voices')")
    guide.add_argument(
        "--output-device", help="output device number or name (see 'selfkind devices')"
    )
    guide.add_argument(
        "--no-reflect", action="store_true", help="keep reflection steps quiet; no microphone"
    )
    _add_listening_options(guide)
    guide.add_argument(
        "--delay", type=_seconds_option, default=5.0,
        help="a soft bell and a quiet moment before the first word (default 5s; 0 for none)",
    )  # fmt: skip
    guide.set_defaults(run=cmd_guide)

    devices = commands.add_parser(
        "devices",
        help="list sound devices",
        description="List the input and output devices as PortAudio sees them.",
    )
    devices.set_defaults(run=cmd_devices)

    journal = commands.add_parser(
        "journal",
        help="your private journal of spoken reflections",
        description="Read, search, export or delete the reflections kept in your private"
        " journal (SQLite in your data folder; nothing leaves this machine).",
    )
    journal.add_argument(
        "action", nargs="?",
        choices=("list", "show", "search", "export", "delete", "transcribe"), default="list",
    )  # fmt: skip
    journal.add_argument("argument", nargs="?", help="entry id (show, delete) or words (search)")
    journal.add_argument("--format", choices=("md", "json"), default="md", help="for export")
    journal.add_argument("-o", "--output", help="export to this file instead of the screen")
    _add_journal_option(journal)
    _add_recognizer_options(journal)
    journal.add_argument("--pending", action="store_true", help="transcribe: every pending entry")
    journal.set_defaults(run=cmd_journal)

    reflect = commands.add_parser(
        "reflect",
        help="speak a reflection now; it is transcribed and kept in your journal",
        description="Listen through the microphone until you have finished speaking (a few"
        " seconds of quiet), --max runs out, or Ctrl-C; transcribe it offline and keep the"
        " audio and the text in your private journal.",
    )
    reflect.add_argument("--prompt", help="the question you are answering, kept with it")
    reflect.add_argument(
        "--max", type=_duration_option, default=300.0, help="longest recording (default 5m)"
    )
    _add_listening_options(reflect)
    reflect.set_defaults(run=cmd_reflect)

    transcribe = commands.add_parser(
        "transcribe",
        help="turn recordings into text, offline",
        description="Transcribe recordings (any format ffmpeg reads) offline: with Vosk when a"
        " model is installed, else with PocketSphinx's English model. A file that cannot be"
        " read is reported in one line and the others are still done (exit 1).",
    )
    transcribe.add_argument("audio", nargs="+", metavar="AUDIO")
    transcribe.add_argument("--json", action="store_true", help="text and word times as JSON")
    _add_recognizer_options(transcribe)
    transcribe.set_defaults(run=cmd_transcribe)

    models_parser = commands.add_parser(
        "models",
        help="speech-recognition models: list, install, remove",
        description="List, install or remove Vosk models. SOURCE is a model zip, an unpacked"
        " model folder, or a URL (the only time selfkind uses the network), checked against"
        " --sha256 when given.",
    )
    models_parser.add_argument(
        "action", nargs="?", choices=("list", "install", "remove"), default="list"
    )
    models_parser.add_argument("source", nargs="?", metavar="SOURCE|NAME")
    models_parser.add_argument("--sha256", help="expected SHA-256 of the zip")
    models_parser.set_defaults(run=cmd_models)

    check = commands.add_parser(
        "check",
        help="check scripts for mistakes without rendering",
        description="Check scripts for mistakes without rendering; exit 2 if any has one.",
    )
    check.add_argument("scripts", nargs="+", metavar="SCRIPT")
    check.set_defaults(run=cmd_check)

    practices = commands.add_parser(
        "practices",
        help="list the built-in practices, or show one",
        description="List the built-in practices (name, title, usual length, the range of"
        " lengths it can be rendered at, tags), or print one's script with 'show NAME'.",
    )
    practices.add_argument("action", nargs="?", choices=("list", "show"), default="list")
    practices.add_argument("name", nargs="?", help="practice to show")
    _add_jobs(practices, "speech synthesis processes")
    practices.set_defaults(run=cmd_practices)

    voices = commands.add_parser(
        "voices",
        help="list the voice profiles, or hear one",
        description="List the voice profiles (the shipped ones and your own, with whether each"
        " can speak on this machine), or 'preview NAME [TEXT]' to hear one on the sound card"
        " or write it to a file with -o.",
    )
    voices.add_argument("action", nargs="?", choices=("list", "preview"), default="list")
    voices.add_argument("name", nargs="?", help="voice to preview")
    voices.add_argument("text", nargs="?", help="what the preview says")
    voices.add_argument("-o", "--output", help="write the preview to this file instead of playing")
    voices.set_defaults(run=cmd_voices)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except ScriptError as err:
        print(err, file=sys.stderr)
        return EXIT_BAD_INPUT
    except SelfkindError as err:
        print(f"selfkind: {err}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("\nStopped. Nothing half-finished was kept.", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (e.g. `selfkind practices | head`); that is not an error.
        sys.stderr.close()
        return EXIT_OK


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
