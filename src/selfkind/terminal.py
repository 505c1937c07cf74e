"""Keys from a terminal, one at a time, without echo; restored however the program ends."""

from __future__ import annotations

import os
import select
import sys
import termios
import threading
import tty
from collections.abc import Callable

KEY_NAMES = {"\x1b[C": "right", "\x1b[D": "left", " ": "space", "\r": "enter", "\n": "enter"}


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
        while not self._stop.is_set():
            ready, _, _ = select.select([self._fd], [], [], 0.1)
            if not ready:
                continue
            data = os.read(self._fd, 64).decode(errors="ignore")
            if not data:
                return
            for key in split_keys(data):
                self.on_key(key)


def split_keys(data: str) -> list[str]:
    """Several keys can arrive in one read ('q' right after a space): name each of them."""
    keys = []
    while data:
        for sequence, name in KEY_NAMES.items():
            if data.startswith(sequence):
                keys.append(name)
                data = data[len(sequence) :]
                break
        else:
            if data[0] != "\x1b":
                keys.append(data[0].lower())
            data = data[1:]
    return keys
