"""The project's exceptions. The library raises them; only the CLI turns them into words and
exit codes (2 for something the user wrote, 1 for something missing on the machine)."""

from __future__ import annotations


class SelfkindError(Exception):
    """Base of every error selfkind raises on purpose."""


class ScriptError(SelfkindError):
    """Something wrong in a file the user wrote: a script, a voice profile, an option.

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
