"""Keys from a terminal, one at a time, without echo; restored however the program ends."""

from __future__ import annotations

import codecs
import os
import select
import sys
import termios
import threading
import tty
from collections.abc import Callable

KEY_NAMES = {
    "\x1b[C": "right", "\x1b[D": "left", " ": "space", "\r": "enter", "\n": "enter",
    "\x7f": "backspace", "\x08": "backspace",
}  # fmt: skip
"""Keys by what the terminal sends (cbreak mode); any other character is itself."""


class KeyReader:
    """Calls ``on_key`` with each key pressed ('q', 'space', 'left', ...) from a thread."""

    def __init__(self, on_key: Callable[[str], None]) -> None:
        self.on_key = on_key
        self._fd = sys.stdin.fileno()
        self._saved = termios.tcgetattr(self._fd)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, name="keys", daemon=True)

    def __enter__(self) -> KeyReader:
        tty.setcbreak(self._fd)
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        termios.tcsetattr(self._fd, termios.TCSADRAIN, self._saved)

    def _read(self) -> None:
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        while not self._stop.is_set():
            ready, _, _ = select.select([self._fd], [], [], 0.1)
            if not ready:
                continue
            raw = os.read(self._fd, 64)
            if not raw:
                return
            # Incremental: a character of several bytes ("é") split between two reads is
            # put together rather than lost.
            for key in split_keys(decoder.decode(raw)):
                self.on_key(key)


def split_keys(data: str) -> list[str]:
    """Several keys can arrive in one read ('q' right after a space): name each of them.

    Characters keep their case (a reflection being typed needs it; commands compare in
    lower case). Esc alone is "esc"; any other escape sequence (an arrow or a function key
    with no name here) is skipped whole, never read as the letters it is made of.
    """
    keys = []
    while data:
        for sequence, name in KEY_NAMES.items():
            if data.startswith(sequence):
                keys.append(name)
                data = data[len(sequence) :]
                break
        else:
            if data[0] == "\x1b":
                length = _escape_length(data)
                if length == 1:
                    keys.append("esc")
                data = data[length:]
                continue
            keys.append(data[0])
            data = data[1:]
    return keys


def _escape_length(data: str) -> int:
    """How long the escape sequence at the start of ``data`` is: CSI ("ESC [", parameters,
    one final byte from @ to ~) or SS3 ("ESC O" and one character); 1 for Esc on its own."""
    if data.startswith("\x1b[") and len(data) > 2:
        for index in range(2, len(data)):
            if "@" <= data[index] <= "~":
                return index + 1
        return len(data)
    if data.startswith("\x1bO") and len(data) > 2:
        return 3
    return 1


def edited(line: str, key: str) -> str:
    """A line being typed after one more key: printable characters are added, "space" adds a
    space, "backspace" takes the last character away; any other key leaves it as it is."""
    if key == "backspace":
        return line[:-1]
    if key == "space":
        return line + " "
    if len(key) == 1 and key.isprintable():
        return line + key
    return line
