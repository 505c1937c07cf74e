"""The ``selfkind`` command: the only place that prints, reads options or picks exit codes.
It parses, calls one library function per command, and prints.

Exit codes: 0 done; 1 something is missing on the machine or failed outside the user's files;
2 a bad script, file or option (``FILE:LINE:COL: what is wrong``); 130 stopped with Ctrl-C.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable, Sequence

from ..errors import InputError, SelfkindError
from .common import (
    EXIT_BAD_INPUT,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    error_text,
    printable,
    say_library_notes,
)
from .parser import build_parser, dashed_search_words, search_text

__all__ = ["build_parser", "command_function", "main", "run"]


def command_function(name: str) -> Callable[..., int]:
    """The function a command runs, from its ``"module:function"`` name in this package,
    importing the module now (see parser.py: the parser itself imports no command)."""
    module_name, function_name = name.split(":")
    return getattr(importlib.import_module(f"{__name__}.{module_name}"), function_name)


OVERVIEW = """\
selfkind {version}: kind, voice-guided self-compassion practice, entirely offline.
Scripts become timed, spoken sessions; what you say at a reflection is kept in a private
journal on this machine.

Start here:
  selfkind practices          the built-in practices, with their lengths
  selfkind guide NAME         be guided through one now, live, with captions
  selfkind render NAME        make an audio file of one to listen to anywhere
  selfkind reflect            speak a reflection; it is transcribed and kept
  selfkind journal            read what you have said before

Your journal is kept in {journal} (only you can read it).
Check this machine with: selfkind doctor.  More: selfkind COMMAND --help, or selfkind --help.
"""


def overview() -> str:
    from .. import __version__
    from ..journal.store import default_path

    return OVERVIEW.format(version=__version__, journal=printable(str(default_path())))


def subparser(parser: argparse.ArgumentParser, command: str) -> argparse.ArgumentParser:
    """The parser of one command (argparse keeps them in its subparsers action)."""
    for action in parser._subparsers._group_actions:  # noqa: SLF001 - only argparse has them
        return action.choices[command]
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    if "_ARGCOMPLETE" in os.environ:  # the shell asking for completions (selfkind completion)
        import argcomplete

        argcomplete.autocomplete(parser)
    tokens = list(sys.argv[1:] if argv is None else argv)
    if dashed := dashed_search_words(subparser(parser, "journal"), tokens):
        subparser(parser, "journal").error(
            f"unrecognized arguments: {' '.join(dashed)}; to search for words beginning with"
            f" '-', put -- before them: selfkind journal search -- {dashed[0]}"
        )
    args, extra = parser.parse_known_args(argv)
    extra = search_text(args, extra)
    if extra:  # said by the command's own parser, so the message names the command
        command_parser = parser if args.command is None else subparser(parser, args.command)
        command_parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if args.command is None:
        sys.stdout.write(overview())
        return EXIT_OK
    say_library_notes()
    try:
        return command_function(args.run)(args)
    except InputError as err:
        print(error_text(err), file=sys.stderr)
        return EXIT_BAD_INPUT
    except SelfkindError as err:
        print(f"selfkind: {error_text(err)}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("\nStopped. Nothing half-finished was kept.", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (e.g. `selfkind practices | head`); that is not an error.
        sys.stderr.close()
        return EXIT_OK
    except OSError as err:
        # The machine refused something no library call foresaw (a folder removed under a
        # running render, say): one line, not a traceback.
        print(f"selfkind: {error_text(err)}", file=sys.stderr)
        return EXIT_FAILED


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
