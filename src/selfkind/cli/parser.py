"""The command line's shape: every command, its options and their help.

Each command names the function that runs it as ``"module:function"`` in this package, and
:func:`selfkind.cli.command_function` imports that module only when the command runs: so
``--help``, a typo or ``check`` never load the renderer, the recognizers or PortAudio.
"""

from __future__ import annotations

import argparse
import re
import sys
from typing import NoReturn

from .. import __version__
from ..formats import FORMATS
from .common import (
    add_action,
    add_background_options,
    add_jobs,
    add_journal_option,
    add_listening_options,
    add_pace_option,
    add_recognizer_options,
    add_yes_option,
    duration_option,
    list_option,
    named_option,
    printable,
    seconds_option,
)
from .serve import add_serve_parser


class _Parser(argparse.ArgumentParser):
    """argparse, with its errors in the words a person typed (no internal names), the values
    it echoes made printable, and a last line saying where to read more (its subcommand
    parsers are of the same class)."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: {printable(readable_usage_error(message))};"
                  f" see: {self.prog} --help\n")  # fmt: skip


_INVALID_CHOICE = re.compile(r"argument (\S+): invalid choice: (.*?) \(choose from (.*)\)$")


def readable_usage_error(message: str) -> str:
    """argparse's message, without the names only the code knows (``argument action:``)."""
    found = _INVALID_CHOICE.match(message)
    if found:
        name, value, choices = found.groups()
        choices = ", ".join(c.strip().strip("'") for c in choices.split(","))
        said = f"{name} {value}" if name.startswith("-") else value
        return f"{said} is not one of: {choices}"
    if message.startswith("unrecognized arguments: "):
        return f"not an option or argument it takes: {message.split(': ', 1)[1]}"
    return message.removeprefix("argument ")


_NUMBER = re.compile(r"-\d+$|-\d*\.\d+$")
"""What argparse takes for a negative number (an argument), not an option."""


def dashed_search_words(journal: argparse.ArgumentParser, tokens: list[str]) -> list[str]:
    """Words after ``journal search`` (before any ``--``) that begin with "-" but are none of
    the journal's options: argparse would read them as options, mistyped ones or a short
    option with its value glued on (``-hearted`` as ``-h earted``), so the caller says that
    search text beginning with "-" goes after ``--``, as in every Unix command."""
    if "--" in tokens:
        tokens = tokens[: tokens.index("--")]
    known = journal._option_string_actions  # noqa: SLF001 - argparse's own table
    positionals, takes_value = [], False
    dashed = []
    for token in tokens:
        if takes_value:
            takes_value = False
        elif token.startswith("-") and len(token) > 1 and not _NUMBER.match(token):
            action = known.get(token.split("=", 1)[0])
            if action is None and positionals[:2] == ["journal", "search"]:
                dashed.append(token)
            takes_value = action is not None and action.nargs != 0 and "=" not in token
        else:
            positionals.append(token)
    return dashed


def search_text(args: argparse.Namespace, extra: list[str]) -> list[str]:
    """``journal search`` takes every word typed (``search kind words`` needs no quotes):
    the words argparse left over join the search text. Returns what is still left over."""
    if getattr(args, "command", None) != "journal" or args.action != "search":
        return extra
    words = [w for w in (args.argument, *extra) if w is not None and w != "--"]
    args.argument = " ".join(words) or None
    return []


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="selfkind",
        description="Voice-guided self-compassion practice, offline: render scripts to audio.",
    )
    parser.add_argument("--version", action="version", version=f"selfkind {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    render = commands.add_parser(
        "render",
        help="render a script or built-in practice to an audio file with captions",
        description="Render a script (a .md file, or the name of a built-in practice) to an"
        " audio file, with WebVTT captions and a JSON timeline beside it.",
    )
    render.add_argument(
        "script",
        metavar="SCRIPT",
        type=named_option,
        help="script file, or a built-in practice name",
    )
    render.add_argument("-o", "--output", help="audio file to write (default out/<name>.<format>)")
    render.add_argument("--format", choices=FORMATS, help="audio format (default mp3, or from -o)")
    render.add_argument(
        "--duration", type=duration_option, help="session length, e.g. 10m; fits the pauses"
    )
    render.add_argument(
        "--voice", help="voice profile name, or your own .toml file (see 'selfkind voices')"
    )
    add_pace_option(render)
    add_background_options(render)
    add_jobs(render, "speech synthesis processes")
    render.set_defaults(run="render:cmd_render")

    batch_parser = commands.add_parser(
        "batch",
        help="render many scripts, at several lengths and in several voices",
        description="Render every script found (folders are searched recursively; built-in"
        " practice names work too) for every length and voice asked for, skipping outputs"
        " that are up to date. Writes index.json and playlist.m3u in the output folder."
        " Exit 1 if any script failed.",
    )
    batch_parser.add_argument(
        "paths", nargs="+", metavar="PATH", type=named_option, help="scripts or folders"
    )
    batch_parser.add_argument("-o", "--output", required=True, help="output folder")
    batch_parser.add_argument(
        "--format", choices=FORMATS, default="mp3", help="audio format (default mp3)"
    )
    batch_parser.add_argument(
        "--duration",
        type=list_option(duration_option),
        help="lengths, comma-separated (e.g. 5m,10m,20m); default: each script's own",
    )
    batch_parser.add_argument(
        "--voice", type=list_option(str), help="voices, comma-separated (default: each script's)"
    )
    add_pace_option(batch_parser)
    add_jobs(batch_parser, "worker processes")
    batch_parser.add_argument("--force", action="store_true", help="render even if up to date")
    batch_parser.set_defaults(run="render:cmd_batch")

    guide = commands.add_parser(
        "guide",
        help="be guided through a practice live, on the sound card",
        description="Play a script or built-in practice live through the sound card, with"
        " captions. Keys: space pauses, n/right skips a section, b/left goes back, q stops"
        " gently, enter ends listening at a reflection, t types an answer there instead. At"
        " [reflect] steps it listens through the microphone and keeps what you say in your"
        " private journal (--no-reflect: it does not). Without a terminal, it logs plain"
        " lines and takes no keys.",
    )
    guide.add_argument(
        "script",
        nargs="?",
        metavar="SCRIPT",
        type=named_option,
        help="script file, or a built-in practice name",
    )
    guide.add_argument(
        "--resume", action="store_true",
        help="carry on a session stopped part-way in the last day, from the start of the"
        " section where it stopped",
    )  # fmt: skip
    guide.add_argument(
        "--no-history", action="store_true", help="do not note this session in your history"
    )
    guide.add_argument("--duration", type=duration_option, help="session length, e.g. 10m")
    guide.add_argument(
        "--voice", help="voice profile name, or your own .toml file (see 'selfkind voices')"
    )
    add_pace_option(guide)
    add_background_options(guide)
    guide.add_argument(
        "--plain",
        action="store_true",
        help="one plain line per caption instead of the live screen (screen readers, logs)",
    )
    guide.add_argument(
        "--output-device", help="output device number or name (see 'selfkind devices')"
    )
    guide.add_argument(
        "--no-reflect", action="store_true", help="keep reflection steps quiet; no microphone"
    )
    add_listening_options(guide)
    guide.add_argument(
        "--delay", type=seconds_option, default=5.0,
        help="a soft bell and a quiet moment before the first word (default 5s; 0 for none)",
    )  # fmt: skip
    guide.set_defaults(run="guide:cmd_guide")

    timer = commands.add_parser(
        "timer",
        help="sit in silence with bells: live on the sound card, or rendered with -o",
        description="A meditation timer: a warm-up, a start bell, interval bells at exact"
        " times and an end bell (three strikes), with silence or a background between."
        " Live it takes the guide's keys (space pauses, n/b skip between bells, q stops"
        " gently); with -o it is rendered to a file like any practice. Times shown are from"
        " the start of the audio, which opens with 1.5s of quiet.",
    )
    timer.add_argument(
        "length", type=duration_option, help="from the start bell to the end bell: 1m to 3h"
    )
    timer.add_argument(
        "--interval", type=duration_option, help="a bell every so often, e.g. 5m (10s or more)"
    )
    timer.add_argument(
        "--bells", type=list_option(str), metavar="KINDS",
        help="which bells ring, comma-separated: start,interval,end (default: all)",
    )  # fmt: skip
    timer.add_argument(
        "--background", default="none",
        help="none (default), pink-noise, brown-noise, or an audio file to loop",
    )  # fmt: skip
    timer.add_argument(
        "--warmup", type=seconds_option, default=10.0,
        help="quiet before the start bell, to settle (default 10s; 0 for none)",
    )  # fmt: skip
    timer.add_argument("-o", "--output", help="render to this file instead of playing live")
    timer.add_argument("--format", choices=FORMATS, help="audio format (default from -o)")
    timer.add_argument(
        "--output-device", help="output device number or name (see 'selfkind devices')"
    )
    timer.add_argument(
        "--no-history", action="store_true", help="do not note this sitting in your history"
    )
    add_journal_option(timer)
    timer.set_defaults(
        run="timer:cmd_timer",
        voice=None,
        duration=None,
        delay=0.0,
        no_reflect=True,
        history_kind="timer",
    )

    history = commands.add_parser(
        "history",
        help="the sessions you have practised, by week",
        description="The guided sessions and timers you have sat, week by week, with the"
        " minutes you actually heard. Nothing is scored and nothing is counted against you."
        " 'delete N' removes one session, 'delete --all' every one, from the private journal"
        " database where they are kept.",
    )
    add_action(history, ("list", "delete"), "list them by week")
    history.add_argument("id", nargs="?", metavar="N", help="the session to delete")
    history.add_argument("--all", action="store_true", help="delete: every session")
    add_yes_option(history)
    add_journal_option(history)
    history.set_defaults(run="history:cmd_history")

    devices = commands.add_parser(
        "devices",
        help="list sound devices",
        description="List the input and output devices as PortAudio sees them.",
    )
    devices.set_defaults(run="guide:cmd_devices")

    journal = commands.add_parser(
        "journal",
        help="your private journal of spoken reflections",
        description="Read, search, export or delete the reflections kept in your private"
        " journal (SQLite in your data folder; nothing leaves this machine). 'write' keeps a"
        " reflection you type: in $VISUAL or $EDITOR, from standard input when it is piped,"
        " or typed at the prompt (end with Ctrl-D). 'edit ID' corrects an entry's text the"
        " same way, keeping what was heard first beside it ('show ID' prints both).",
    )
    journal_actions = ("list", "show", "search", "export", "delete", "transcribe", "write", "edit")
    add_action(journal, journal_actions, "list the entries")
    journal.add_argument(
        "argument", nargs="?", metavar="ID|WORDS",
        help="entry id (show, delete, edit) or words (search; after -- if one begins with -)",
    )  # fmt: skip
    journal.add_argument("--prompt", help="write: the question you are answering, kept with it")
    journal.add_argument("--format", choices=("md", "json"), default="md", help="for export")
    journal.add_argument(
        "-o", "--output", help="export to this file (a new or regular one; - for the screen)"
    )
    add_journal_option(journal)
    add_recognizer_options(journal)
    journal.add_argument("--pending", action="store_true", help="transcribe: every pending entry")
    add_yes_option(journal)
    journal.set_defaults(run="listen:cmd_journal")

    reflect = commands.add_parser(
        "reflect",
        help="speak a reflection now; it is transcribed and kept in your journal",
        description="Listen through the microphone until you have finished speaking (a few"
        " seconds of quiet), --duration runs out, or Ctrl-C; transcribe it offline and keep the"
        " audio and the text in your private journal.",
    )
    reflect.add_argument("--prompt", help="the question you are answering, kept with it")
    reflect.add_argument(
        "--duration", type=duration_option, default=300.0, help="longest recording (default 5m)"
    )
    reflect.add_argument(  # its name before --duration, kept so older scripts still work
        "--max", type=duration_option, dest="duration", help=argparse.SUPPRESS
    )
    add_listening_options(reflect)
    reflect.set_defaults(run="listen:cmd_reflect")

    transcribe = commands.add_parser(
        "transcribe",
        help="turn recordings into text, offline",
        description="Transcribe recordings (any format ffmpeg reads) offline: with Whisper when"
        " it is installed (selfkind[whisper]), else with Vosk when a model is installed, else"
        " with PocketSphinx's English model. A file that cannot be"
        " read is reported in one line and the others are still done (exit 1).",
    )
    transcribe.add_argument(
        "audio", nargs="+", metavar="AUDIO", type=named_option, help="recordings to transcribe"
    )
    transcribe.add_argument("--json", action="store_true", help="text and word times as JSON")
    add_recognizer_options(transcribe)
    transcribe.set_defaults(run="listen:cmd_transcribe")

    models_parser = commands.add_parser(
        "models",
        help="speech-recognition models: list, install, remove",
        description="List, install or remove speech models: Whisper models in faster-whisper's"
        " form (model.bin, config.json, tokenizer.json, vocabulary) and Vosk models (am/, conf/),"
        " told apart by their files. SOURCE is a model zip, an unpacked model folder, or a URL"
        " (the only time selfkind uses the network), checked against --sha256 when given.",
    )
    add_action(models_parser, ("list", "install", "remove"), "list the installed models")
    models_parser.add_argument(
        "source", nargs="?", metavar="SOURCE|NAME", help="model zip, folder or URL; or a name"
    )
    models_parser.add_argument("--sha256", help="expected SHA-256 of the zip")
    models_parser.set_defaults(run="listen:cmd_models")

    check = commands.add_parser(
        "check",
        help="check scripts for mistakes without rendering",
        description="Check scripts for mistakes without rendering; exit 2 if any has one.",
    )
    check.add_argument(
        "scripts",
        nargs="+",
        metavar="SCRIPT",
        type=named_option,
        help="script files, or built-in practice names",
    )
    check.set_defaults(run="render:cmd_check")

    practices = commands.add_parser(
        "practices",
        help="list the built-in practices, or show one",
        description="List the built-in practices (name, title, usual length, the range of"
        " lengths it can be rendered at, tags), or print one's script with 'show NAME'"
        " (with its content note and credits). --tag and --fits narrow the list.",
    )
    add_action(practices, ("list", "show"), "list them")
    practices.add_argument("name", nargs="?", metavar="NAME", help="practice to show")
    practices.add_argument(
        "--tag", action="append", metavar="TAG",
        help="only practices with this tag, e.g. sleep, short, difficulty (repeat for several)",
    )  # fmt: skip
    practices.add_argument(
        "--fits", type=duration_option, metavar="LENGTH",
        help="only practices that can last about this long, e.g. 10m",
    )  # fmt: skip
    practices.set_defaults(run="render:cmd_practices")

    voices = commands.add_parser(
        "voices",
        help="list the voice profiles, or hear one",
        description="List the voice profiles (the shipped ones and your own, with whether each"
        " can speak on this machine), or 'preview NAME [TEXT]' to hear one on the sound card"
        " or write it to a file with -o.",
    )
    add_action(voices, ("list", "preview"), "list them")
    voices.add_argument("name", nargs="?", metavar="NAME", help="voice to preview")
    voices.add_argument("text", nargs="?", metavar="TEXT", help="what the preview says")
    voices.add_argument("-o", "--output", help="write the preview to this file instead of playing")
    voices.set_defaults(run="render:cmd_voices")

    doctor = commands.add_parser(
        "doctor",
        help="check this machine has what selfkind needs, and say how to add what is missing",
        description="Check the speech engines, ffmpeg, speech-recognition models, sound"
        " devices, the data folder and free disk. Exit 1 if something required is missing.",
    )
    doctor.set_defaults(run="doctor:cmd_doctor")

    completion = commands.add_parser(
        "completion",
        help="print the shell completion script for bash or zsh",
        description="Print a script that lets the shell complete selfkind's commands and"
        ' options with Tab. Add to ~/.bashrc: eval "$(selfkind completion bash)" (or to'
        ' ~/.zshrc: eval "$(selfkind completion zsh)").',
    )
    completion.add_argument("shell", metavar="SHELL", choices=("bash", "zsh"), help="bash or zsh")
    completion.set_defaults(run="doctor:cmd_completion")

    add_serve_parser(commands)
    return parser
