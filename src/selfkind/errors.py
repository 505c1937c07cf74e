"""The project's exceptions. The library raises them; only the CLI turns them into words and
exit codes (2 for something the user wrote, 1 for something missing on the machine)."""

from __future__ import annotations


class SelfkindError(Exception):
    """Base of every error selfkind raises on purpose."""


class InputError(SelfkindError):
    """Something the user gave is wrong (a file, an option): exit status 2."""


class UsageError(InputError):
    """A command-line option or argument that cannot be used; ``what`` names it as the
    person typed it (``--duration``, ``-o``)."""

    def __init__(self, what: str, message: str) -> None:
        super().__init__(message)
        self.what = what
        self.message = message

    def __str__(self) -> str:
        return f"{self.what}: {self.message}" if self.what else self.message


class ScriptError(InputError):
    """Something wrong in a file the user wrote: a script, a voice profile, a background.

    Carries where it is so the CLI can print ``FILE:LINE:COL: message``; ``line`` and ``col``
    are 1-based, and 0 means "not known" (the part is then left out).
    """

    def __init__(self, path: str, line: int, col: int, message: str) -> None:
        super().__init__(message)
        self.path = path
        self.line = line
        self.col = col
        self.message = message

    def __str__(self) -> str:
        where = self.path
        if self.line:
            where += f":{self.line}"
            if self.col:
                where += f":{self.col}"
        return f"{where}: {self.message}"


class SetupError(SelfkindError):
    """A part of the machine is missing (an engine, ffmpeg, a device, a model).

    The message is one line that says what to install or run.
    """


class JournalError(SelfkindError):
    """The journal cannot be used right now (held by another process, or unreadable)."""


class TranscribeError(SelfkindError):
    """One audio file could not be read."""


class DeviceLost(SetupError):
    """The output device went away in the middle of a session."""


class SynthesisError(SelfkindError):
    """The engine failed or hung on one utterance."""


class ScriptErrors(ScriptError):
    """Every mistake found in one file, in reading order; reads as one ``FILE:LINE:COL`` line
    each. It is a ScriptError standing for the first one, so callers that want only one
    still get the right location."""

    def __init__(self, errors: list[ScriptError]) -> None:
        first = errors[0]
        super().__init__(first.path, first.line, first.col, first.message)
        self.errors = tuple(errors)

    def __str__(self) -> str:
        return "\n".join(str(error) for error in self.errors)


def one_or_all(errors: list[ScriptError]) -> ScriptError:
    """The error to raise for a non-empty list of mistakes."""
    return errors[0] if len(errors) == 1 else ScriptErrors(errors)


class CannotWrite(SelfkindError):
    """A file could not be written (the disk is full, the folder went away): exit status 1.
    The message names the file and the system's reason."""


class FolderBusy(SelfkindError):
    """Another selfkind process is writing into the same folder: exit status 1."""
