"""What every command shares: exit codes, the progress bar, and option parsers."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import unicodedata
from collections.abc import Callable
from typing import TypeVar

from ..errors import ScriptErrors
from ..listen import END_SILENCE_S
from ..progress import Progress
from ..units import parse_duration
from ..voices import PACE_RANGE

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


def printable(text: str) -> str:
    """``text`` safe to show on a terminal or in a log: control and format characters (an
    escape sequence, a newline, a right-to-left override, as a file name may hold) are
    shown as escapes like ``\\x1b`` instead of acting."""
    return "".join(
        ch if unicodedata.category(ch)[0] != "C" else ch.encode("unicode_escape").decode("ascii")
        for ch in text
    )


def error_text(err: BaseException) -> str:
    """An error as printed: one printable line, or one per mistake for several."""
    if isinstance(err, ScriptErrors):
        return "\n".join(printable(str(one)) for one in err.errors)
    return printable(str(err))


class NoteHandler(logging.Handler):
    """The library's warnings (the ``selfkind`` logger: a Piper model that runs whole, say)
    as one line each on stderr, like the commands' own notes. ``sys.stderr`` is looked up
    as each is said, so on a terminal the progress bar prints it above itself."""

    def emit(self, record: logging.LogRecord) -> None:
        print(f"selfkind: {printable(record.getMessage())}", file=sys.stderr, flush=True)


def say_library_notes() -> None:
    """Let the library's warnings through to stderr (once, however often main() runs)."""
    logger = logging.getLogger("selfkind")
    if not any(isinstance(handler, NoteHandler) for handler in logger.handlers):
        logger.addHandler(NoteHandler(logging.WARNING))


def progress_bar() -> Progress:
    return BarProgress() if sys.stderr.isatty() else Progress()


def duration_option(text: str) -> float:
    try:
        value = parse_duration(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    if value <= 0:
        raise argparse.ArgumentTypeError("the duration must be longer than zero")
    return value


def named_option(text: str) -> str:
    """A file or name that must be given: an empty one would mean "." (this folder) to Path."""
    if not text.strip():
        raise argparse.ArgumentTypeError("nothing given (an empty name); give a file or a name")
    return text


def seconds_option(text: str) -> float:
    try:
        return parse_duration(text) if text not in ("0", "0s") else 0.0
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def device_option(text: str | None) -> int | str | None:
    if text is None:
        return None
    return int(text) if text.isdigit() else text


def clock(seconds: float) -> str:
    minutes, secs = divmod(max(int(seconds), 0), 60)
    return f"{minutes}:{secs:02d}"


def list_option(parse: Callable[[str], T]) -> Callable[[str], list[T]]:
    def parse_list(text: str) -> list[T]:
        return [parse(part.strip()) for part in text.split(",") if part.strip()]

    return parse_list


def add_jobs(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument(
        "--jobs", type=int, default=os.cpu_count() or 1, help=f"{what} (default: the cores)"
    )


def add_recognizer_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--engine",
        choices=("auto", "whisper", "vosk", "pocketsphinx"),
        default="auto",
        help="speech recognizer (default: Whisper if installed, else Vosk if a model is"
        " installed, else PocketSphinx)",
    )
    parser.add_argument("--model", help="a Whisper (faster-whisper) or Vosk model folder")


def add_journal_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--journal", help="journal database to use (default: your data folder)")


def add_listening_options(parser: argparse.ArgumentParser) -> None:
    """What capturing a spoken reflection needs: guide and reflect share these."""
    parser.add_argument("--input-device", help="microphone, by number or name (selfkind devices)")
    parser.add_argument(
        "--end-silence", type=duration_option, default=END_SILENCE_S,
        help=f"quiet after speech that means you have finished (default {END_SILENCE_S:g}s)",
    )  # fmt: skip
    add_journal_option(parser)
    add_recognizer_options(parser)


def add_yes_option(parser: argparse.ArgumentParser) -> None:
    """Deleting asks first on a terminal; --yes answers for the person (and is needed
    where there is no one to ask)."""
    parser.add_argument(
        "-y", "--yes", action="store_true",
        help="delete: do not ask first (needed without a terminal)",
    )  # fmt: skip


def pace_option(text: str) -> float:
    """``--pace``: a factor on the voice's speed, e.g. 0.9 (slower) or 1.1 (faster)."""
    low, high = PACE_RANGE
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number (try 0.9 or 1.1)") from None
    if not low <= value <= high:
        raise argparse.ArgumentTypeError(f"the pace must be between {low} and {high}")
    return value


def add_pace_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--pace",
        type=pace_option,
        default=1.0,
        help="speak slower (e.g. 0.9) or faster (1.1), pauses with it (default 1)",
    )


def level_option(text: str) -> float:
    """``--background-level``: dB under the voice, e.g. -24dB or -24."""
    value = text.strip().lower().removesuffix("db").strip()
    try:
        level_db = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a level (try -24dB)") from None
    if level_db > 0:
        raise argparse.ArgumentTypeError("the background sits under the voice: use 0dB or less")
    return level_db


def add_background_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--background",
        type=named_option,
        metavar="none|pink-noise|brown-noise|FILE",
        help="ambience under the voice, over the script's own choice",
    )
    parser.add_argument(
        "--background-level",
        type=level_option,
        metavar="DB",
        help="how far under the voice the ambience sits, e.g. --background-level=-24dB"
        " (default: the script's, or -28dB)",
    )


def add_action(
    parser: argparse.ArgumentParser, choices: tuple[str, ...], default_does: str
) -> None:
    """The optional first word of a command with several actions; the first choice, "list",
    is what it does when none is given (``default_does`` says so in the help)."""
    parser.add_argument(
        "action", nargs="?", choices=choices, default=choices[0],
        help=f"what to do (default: {default_does})",
    )  # fmt: skip
