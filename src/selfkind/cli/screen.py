"""The guide's screen on a terminal, drawn by rich.

The whole screen is drawn again on every tick in the terminal's alternate screen, at the
width the terminal has at that moment, so a resize leaves no fragments of old lines; the
sentence being spoken wraps over as many lines as it needs, down to 40 columns. (What
PortAudio and ALSA print from C is kept off it by devices.native_messages_to.)
"""

from __future__ import annotations

import contextlib
import os
import sys
from dataclasses import dataclass

from rich.console import Console, Group
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from .common import clock

KEYS_LINE = "space pause · n next · b back · q stop"
TYPE_KEY = " · t type instead"
"""Added to the keys at a reflection step (``TYPE_KEY_QUIET`` where no one listens there)."""
TYPE_KEY_QUIET = " · t type a reflection"
TYPING_KEYS = "enter keep it · esc back to the step"
TYPING_NOTE = "Take your time; the session waits for you."
TYPED_LINES = 4
"""Lines of a typed answer kept in view: a long one shows its end, where the typing is."""
REFRESH_HZ = 8


@dataclass(frozen=True)
class ScreenState:
    """What the screen shows at one moment."""

    title: str
    length: str
    voice: str
    section: str
    sentence: str
    elapsed_s: float
    total_s: float
    paused: bool = False
    note: str = ""
    """A message of the moment (a reflection kept, listening), shown under the sentence."""
    keys: str = KEYS_LINE
    typed: str | None = None
    """An answer being typed at a reflection step (its prompt is the sentence), or None."""


def render_screen(state: ScreenState, width: int = 80) -> Group:
    """The screen as rich renderables; everything wraps to the console's width."""
    heading = Text(state.title, style="bold")
    heading.append(f"  {state.length} · {state.voice} voice", style="dim")
    section = Text(state.section or " ", style="cyan")
    sentence = Text(state.sentence or " ")
    clock_text = f"{clock(state.elapsed_s)} / {clock(state.total_s)}"
    if state.paused:
        clock_text += "  paused"
    bar = Table.grid(expand=True, padding=(0, 1))
    bar.add_column(ratio=1)
    bar.add_column(no_wrap=True)
    total = max(state.total_s, 0.001)
    bar.add_row(ProgressBar(total=total, completed=min(state.elapsed_s, total)), clock_text)
    parts = [heading, section, Text(""), sentence, Text("")]
    if state.typed is not None:
        room = max(width * TYPED_LINES - 4, 8)
        shown = state.typed if len(state.typed) <= room else "…" + state.typed[-room + 1 :]
        line = Text("> ", style="bold")
        line.append(shown)
        line.append(" ", style="reverse")  # where the next character goes
        parts += [Text(TYPING_NOTE, style="dim"), line, Text("")]
    if state.note:
        parts += [Text(state.note, style="italic"), Text("")]
    parts += [bar, Text(state.keys, style="dim")]
    return Group(*parts)


class GuideScreen:
    """The live screen: start it, update it with a ScreenState, stop it."""

    def __init__(self) -> None:
        self.console = Console(highlight=False)
        self._live: Live | None = None

    def __enter__(self) -> GuideScreen:
        self._live = Live(
            Text(""),
            console=self.console,
            screen=True,
            auto_refresh=False,
            redirect_stdout=False,
            redirect_stderr=False,
        )
        self._live.__enter__()
        return self

    def show(self, state: ScreenState) -> None:
        if self._live is None:
            return
        # The terminal's size now, asked of the terminal itself: rich would otherwise keep
        # the size it found at the start (or $COLUMNS and $LINES), and a resize would
        # leave the old layout's lines behind.
        with contextlib.suppress(OSError):
            size = os.get_terminal_size(sys.__stdout__.fileno())
            if size.columns > 0 and size.lines > 0:  # a new pseudo-terminal says 0 x 0
                self.console.size = (size.columns, size.lines)
        self._live.update(render_screen(state, self.console.width), refresh=True)

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.__exit__(None, None, None)
            self._live = None
