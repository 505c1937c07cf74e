"""reflect, transcribe, models, journal: what a person says, heard and kept."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from ..devices import microphone_problem
from ..errors import SetupError, UsageError
from .common import EXIT_FAILED, EXIT_OK, device_option, printable, progress_bar

if TYPE_CHECKING:
    from ..journal.store import Entry, Journal
    from ..listen.recognizers import Choice, Recognizer


def cmd_journal(args: argparse.Namespace) -> int:
    from ..journal.export import export_journal, export_markdown, write_private

    with open_journal(args) as store:
        if args.action in ("write", "edit"):
            from .written import journal_edit, journal_write

            return (journal_write if args.action == "write" else journal_edit)(args, store)
        if args.action == "list":
            entries = store.entries()
            if not entries:
                print(EMPTY_JOURNAL)
            for entry in entries:
                words = entry.transcript or f"({entry.status})"
                print(
                    f"{entry.id:4}  {entry.started_at[:16]}  {entry.practice[:24]:24}  {words[:60]}"
                )
        elif args.action == "search":
            if not args.argument:
                raise UsageError(
                    "journal search", "say what to search for: selfkind journal search WORDS"
                )
            found = store.search(args.argument)
            if not found:
                print(
                    f"Nothing in your journal matches '{printable(args.argument)}'. Try fewer"
                    " or shorter words, or see every entry with: selfkind journal list"
                )
            for entry in found:
                print(f"{entry.id:4}  {entry.started_at[:16]}  {entry.transcript[:70]}")
        elif args.action in ("show", "delete"):
            entry = _entry_named(store, args.action, args.argument)
            if args.action == "delete":
                if not args.yes and not _confirm_delete(entry.id):
                    print("Nothing was deleted.")
                    return EXIT_OK
                store.delete(entry.id)
                print(f"Deleted entry {entry.id}, with its audio.")
            else:
                sys.stdout.write(export_markdown([entry]))
                original = store.original(entry.id)
                if original is not None:
                    print(f"Heard first (before your correction): {original or '(nothing)'}")
        elif args.action == "transcribe":
            from ..errors import TranscribeError
            from ..listen.transcribe import transcribe_file

            if args.pending or args.argument is None:
                targets = store.entries("pending")
                if not targets:
                    print(
                        "Nothing is waiting to be transcribed: every entry in your journal"
                        " already has its words (see them with: selfkind journal list)."
                    )
                    return EXIT_OK
            else:
                targets = [_entry_named(store, "transcribe", args.argument)]
            make_recognizer = recognizer_source(args.engine, args.model)
            interactive = sys.stdout.isatty()
            failed = 0  # one bad recording does not stop the others: each is said, exit 1
            for entry in targets:
                audio = store.audio_path(entry)
                if audio is None or not audio.is_file():
                    print(f"selfkind: entry {entry.id}: no audio kept", file=sys.stderr)
                    failed += 1
                    continue
                try:
                    result = transcribe_file(audio, make_recognizer())
                except TranscribeError as err:
                    print(f"selfkind: entry {entry.id}: {err}", file=sys.stderr)
                    failed += 1
                    continue
                words = [w.__dict__ for w in result.words]
                store.update_transcript(entry.id, result.text, words, result.engine, result.model)
                # Text on a terminal only: run from cron or a timer, stdout goes to a log.
                print(f"{entry.id:4}  {result.text if interactive else '(transcribed)'}")
            if failed:
                return EXIT_FAILED
        elif args.action == "export":
            text = export_journal(store, args.format)
            if args.output and args.output != "-":
                write_private(Path(args.output), text)
                print(args.output)
            else:
                sys.stdout.write(text)
    return EXIT_OK


EMPTY_JOURNAL = (
    "Your journal is empty. At a [reflect] step in `selfkind guide`, or with"
    " `selfkind reflect`, what you say is kept here."
)


def _entry_named(store: Journal, action: str, argument: str | None) -> Entry:
    """The entry a person named by its number, or a UsageError that says how to find one."""
    if not argument:
        raise UsageError(
            f"journal {action}",
            f"name an entry by its number, e.g. selfkind journal {action} 3"
            " (see the numbers with: selfkind journal list)",
        )
    entry = store.get(int(argument)) if argument.isdigit() else None
    if entry is None:
        raise UsageError(
            f"journal {action}",
            f"there is no entry {printable(argument)!r} in your journal"
            " (see the numbers with: selfkind journal list)",
        )
    return entry


def _confirm_delete(entry_id: int) -> bool:
    """Ask before deleting, on a terminal; refuse without one (a script must say --yes)."""
    if not sys.stdin.isatty():
        raise UsageError(
            "journal delete",
            f"deleting entry {entry_id} cannot be undone and there is no terminal to ask on;"
            f" to delete it anyway, add --yes: selfkind journal delete {entry_id} --yes",
        )
    try:
        answer = input(f"Delete entry {entry_id} and its audio for good? [y/N] ")
    except EOFError:
        return False
    return answer.strip().lower() in ("y", "yes")


def check_recognizer(engine: str, model: str | None) -> Choice:
    """The recognizer the options mean, checked before any work, and said once when a
    better one is within reach (Whisper, when it is not installed)."""
    from ..listen.recognizers import choose

    choice = choose(engine, model)
    if choice.hint:
        name = {"vosk": "Vosk", "pocketsphinx": "PocketSphinx"}.get(choice.engine, choice.engine)
        print(f"Transcribing with {name}. {choice.hint}", file=sys.stderr)
    return choice


def recognizer_source(engine: str, model: str | None) -> Callable[[], Recognizer]:
    """A fresh recognizer per use (each holds one utterance's state), options checked."""
    from ..listen.recognizers import open_chosen

    choice = check_recognizer(engine, model)
    said: list[str] = []

    def fallback(reason: str) -> None:
        if not said:  # once per command, however many files
            said.append(reason)
            print(f"selfkind: {reason}", file=sys.stderr)

    return lambda: open_chosen(choice, fallback)


def open_journal(args: argparse.Namespace) -> Journal:
    """The journal asked for (--journal, else the data folder), with recordings cut off
    last time recovered into it first and said on stderr."""
    from ..journal.keep import open_journal as open_and_recover

    def recovered(entry_id: int) -> None:
        print(
            f"A recording cut off last time is kept as journal entry {entry_id}"
            " (transcribe it with: selfkind journal transcribe --pending).",
            file=sys.stderr,
        )

    def problem(message: str) -> None:
        print(f"selfkind: {message}", file=sys.stderr)

    return open_and_recover(Path(args.journal) if args.journal else None, recovered, problem)


def say_fallback(reason: str) -> None:
    print(f"selfkind: {reason}", file=sys.stderr)


def cmd_reflect(args: argparse.Namespace) -> int:
    from ..listen.listener import Listener, record
    from ..listen.recognizers import choose, open_chosen
    from ..listen.recording import Context

    with open_journal(args) as store:
        journal_path = store.path
    choose(args.engine, args.model)  # a wrong option is said before the microphone opens
    device = device_option(args.input_device)
    problem = microphone_problem(device)
    if problem:
        raise SetupError(problem)
    choice = check_recognizer(args.engine, args.model)
    interactive = sys.stdout.isatty()

    def show_partial(text: str) -> None:
        if interactive and text:
            width = shutil.get_terminal_size((80, 24)).columns
            sys.stdout.write("\r\x1b[2K" + text[-(width - 1) :])
            sys.stdout.flush()

    listener = Listener(
        journal_path, lambda: open_chosen(choice, say_fallback), args.duration,
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
    from ..devices import native_messages_to
    from ..paths import sound_log_path

    # PortAudio's and ALSA's own lines go to the log, as in the guide, not between the words.
    with native_messages_to(sound_log_path()):
        reflection = record(listener)
    if interactive:
        sys.stdout.write("\r\x1b[2K")
    if listener.recognizer_error is not None:
        print(f"selfkind: {listener.recognizer_error}", file=sys.stderr)
    if not reflection.entry_id:
        print("Nothing was heard, so nothing was kept.")
        return EXIT_OK
    if reflection.status == "pending":
        print(f"Kept in your journal as entry {reflection.entry_id}, to transcribe later.")
    elif interactive:
        print(f"Kept in your journal as entry {reflection.entry_id}: {reflection.transcript}")
    else:  # stdout may be a log (cron, systemd): what was said stays in the journal only
        print(f"Kept in your journal as entry {reflection.entry_id}.")
    return EXIT_OK


def cmd_transcribe(args: argparse.Namespace) -> int:
    from ..errors import TranscribeError
    from ..listen.transcribe import transcribe_file

    make_recognizer = recognizer_source(args.engine, args.model)
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
    from ..listen import models

    if args.action == "list":
        from ..listen.recognizers import WHISPER_HINT, choose, whisper

        used = choose().model
        for path in models.installed():
            kind = models.kind_of(path) or "not a model"
            print(f"{path.name}  ({kind}{', used' if path == used else ''})  {path}")
        built_in = whisper.built_in_model() if whisper.installed() else None
        if built_in is not None:
            mark = ", used" if built_in == used else ""
            print(f"{whisper.BUILT_IN_MODEL}  (whisper, built in{mark})  {built_in}")
        elif not models.installed():
            print(f"No model installed; transcription uses PocketSphinx. {WHISPER_HINT}")
        return EXIT_OK
    if not args.source:
        example = "MODEL.zip" if args.action == "install" else "NAME (see: selfkind models)"
        raise UsageError(
            f"models {args.action}",
            f"name a model (a zip, folder or URL to install; a name to remove):"
            f" selfkind models {args.action} {example}",
        )
    if args.action == "remove":
        print(f"Removed {models.remove(args.source)}")
        return EXIT_OK
    with progress_bar() as progress:
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
