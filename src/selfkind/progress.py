"""Where long work reports how far it is. Kept apart from render.py so the command line can
build its progress bar without loading the renderer and numpy."""

from __future__ import annotations


class Progress:
    """Where long work reports how far it is; the default reports nowhere."""

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *_: object) -> None:
        pass

    def start(self, label: str, total: int) -> None:
        pass

    def advance(self, amount: int = 1) -> None:
        pass

    def describe(self, text: str) -> None:
        """Say what is being worked on now (e.g. the file)."""
