"""Running ffmpeg, the one way: a missing ffmpeg is one line that says how to install it,
and its error output goes to a temporary file, so however much it writes there a reader
of its standard output can never deadlock on a full pipe."""

from __future__ import annotations

import subprocess
import tempfile
from dataclasses import dataclass
from typing import IO

from .errors import SelfkindError, SetupError

MISSING = "ffmpeg is missing; install it with: apt-get install ffmpeg"
_BASE = ["ffmpeg", "-nostdin", "-hide_banner", "-v", "error"]


class FfmpegFailed(SelfkindError):
    """ffmpeg exited with an error; ``reason`` is the last line it wrote (may be empty)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class Process:
    """A running ffmpeg; :meth:`finish` waits and raises FfmpegFailed if it failed."""

    popen: subprocess.Popen[bytes]
    _stderr: IO[bytes]

    @property
    def stdin(self) -> IO[bytes]:
        assert self.popen.stdin is not None
        return self.popen.stdin

    @property
    def stdout(self) -> IO[bytes]:
        assert self.popen.stdout is not None
        return self.popen.stdout

    def finish(self) -> None:
        code = self.popen.wait()
        self._stderr.seek(0)
        lines = self._stderr.read().decode(errors="replace").strip().splitlines()
        self._stderr.close()
        if code != 0:
            raise FfmpegFailed(lines[-1] if lines else f"exit status {code}")

    def kill(self) -> None:
        if self.popen.poll() is None:
            self.popen.kill()
        self.popen.wait()
        self._stderr.close()


def start(
    args: list[str], stdin: int | None = None, stdout: int | IO[bytes] | None = None
) -> Process:
    """ffmpeg with ``args`` (after the common quiet options), its pipes as asked."""
    stderr = tempfile.TemporaryFile()
    try:
        popen = subprocess.Popen(
            _BASE + args,
            stdin=stdin if stdin is not None else subprocess.DEVNULL,
            stdout=stdout if stdout is not None else subprocess.DEVNULL,
            stderr=stderr,
        )
    except FileNotFoundError:
        stderr.close()
        raise SetupError(MISSING) from None
    return Process(popen, stderr)


def run(
    args: list[str], input_bytes: bytes | None = None, stdout: int | IO[bytes] | None = None
) -> None:
    """ffmpeg to the end; raises FfmpegFailed with its reason if it failed."""
    process = start(args, subprocess.PIPE if input_bytes is not None else None, stdout)
    if input_bytes is not None:
        try:
            process.stdin.write(input_bytes)
        except BrokenPipeError:
            pass  # ffmpeg stopped early; finish() says why
        finally:
            process.stdin.close()
    process.finish()
