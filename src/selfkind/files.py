"""Writing files so that a reader never sees half of one: write beside the target under a
hidden temporary name, then rename over it. A failure or Ctrl-C leaves the target as it was."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def temporary_beside(target: Path) -> Path:
    """A new, empty file in the target's folder, hidden, to be renamed over the target."""
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    os.close(handle)
    return Path(name)


def publish(temp: Path, final: Path, mode: int | None = None) -> None:
    """Move a finished temporary file into place: with ``mode``, or else the permissions a
    new file would get under the umask."""
    if mode is None:
        umask = os.umask(0o022)
        os.umask(umask)
        mode = 0o666 & ~umask
    os.chmod(temp, mode)
    os.replace(temp, final)


@contextmanager
def replacing(target: Path, mode: int | None = None) -> Iterator[Path]:
    """Yields a temporary path beside ``target`` to write; when the block ends without an
    error it replaces ``target`` (see :func:`publish` for ``mode``), otherwise it is removed.
    A private file (``mode=0o600``) is never readable by others, even for a moment."""
    temp = temporary_beside(target)
    try:
        if mode is not None:
            os.chmod(temp, mode)
        yield temp
        publish(temp, target, mode)
    finally:
        temp.unlink(missing_ok=True)
