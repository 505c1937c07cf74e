"""A recognizer in a separate process, for use beside live playback."""

from __future__ import annotations

import contextlib
import signal
import threading
from typing import TYPE_CHECKING

from ...errors import SelfkindError, SetupError
from . import Recognizer, Transcript, open_recognizer

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

CAUGHT_UP_S = 0.05
"""The worker counts as caught up when no message follows within this (audio comes every
0.1 s while someone speaks)."""


class RecognizerWorker:
    """Recognizers that run in a separate process, for use beside live playback.

    PocketSphinx holds Python's interpreter lock while it decodes (up to ~40 ms a block)
    and while it loads (~0.3 s), and Whisper keeps a core busy for ~0.3 s a phrase; in the
    playing process that starves the audio callback and the sound stutters. Here the engine
    and its model live in a child process, loaded once per session; the player's process
    only passes bytes through a pipe.
    """

    def __init__(self, engine: str = "auto", model: str | None = None) -> None:
        import multiprocessing

        context = multiprocessing.get_context("spawn")  # never fork a process with audio threads
        self._conn, child = context.Pipe()
        self._process = context.Process(
            target=_serve, args=(child, engine, model), name="recognizer", daemon=True
        )
        self._process.start()
        child.close()
        self._lock = threading.Lock()

    def new(self) -> Recognizer:
        """A recognizer for one utterance (raises SetupError if the engine cannot run)."""
        with self._lock:
            self._conn.send(("begin", b""))
            kind, payload = self._conn.recv()
            while kind == "partial":  # left from an utterance that was never finished
                kind, payload = self._conn.recv()
        if kind == "error":
            raise SetupError(str(payload))
        name, model = payload
        return _RemoteRecognizer(self._conn, name, model)

    def close(self) -> None:
        with contextlib.suppress(OSError, EOFError):
            self._conn.send(("quit", b""))
        self._process.join(timeout=5)
        if self._process.is_alive():
            self._process.kill()
        self._conn.close()


class _RemoteRecognizer:
    def __init__(self, conn: Connection, name: str, model: str) -> None:
        self._conn = conn
        self.name = name
        self.model = model
        self._partial = ""

    def accept(self, pcm: bytes) -> None:
        self._conn.send(("audio", pcm))
        self.partial()  # take the replies as they come, so the pipe never fills

    def partial(self) -> str:
        while self._conn.poll():
            kind, payload = self._conn.recv()
            if kind == "partial":
                self._partial = str(payload)
        return self._partial

    def finish(self) -> Transcript:
        self._conn.send(("finish", b""))
        while True:
            kind, payload = self._conn.recv()
            if kind == "transcript":
                return payload
            if kind == "error":
                raise SetupError(str(payload))


def _serve(conn: Connection, engine: str, model: str | None) -> None:
    """The worker process: one recognizer at a time, driven by messages."""
    # Ctrl-C reaches the whole process group; the parent decides, and still needs the
    # transcript of what was being said.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with contextlib.suppress(SelfkindError):
        open_recognizer(engine, model)  # load the model now, not when someone speaks
    recognizer: Recognizer | None = None
    while True:
        try:
            kind, payload = conn.recv()
        except EOFError:
            return
        try:
            if kind == "begin":
                recognizer = open_recognizer(engine, model)
                conn.send(("ready", (recognizer.name, recognizer.model)))
            elif kind == "audio" and recognizer is not None:
                recognizer.accept(payload)
                if not conn.poll(CAUGHT_UP_S):
                    # Only when caught up: a partial can cost a Whisper hearing (~0.3 s);
                    # newer audio waiting makes it stale before it is sent, and a "finish"
                    # right behind the last audio must not wait for it.
                    conn.send(("partial", recognizer.partial()))
            elif kind == "finish" and recognizer is not None:
                conn.send(("transcript", recognizer.finish()))
                recognizer = None
            elif kind == "quit":
                return
        except SelfkindError as err:
            conn.send(("error", str(err)))
