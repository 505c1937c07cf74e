"""Writing files so that a reader never sees half of one: write beside the target under a
hidden temporary name, then rename over it. A failure or Ctrl-C leaves the target as it was.

A temporary name carries the writer's process id (``.NAME.PID.XXXXXXXX.part``), so what a
killed process left behind can be told from what a running one is writing:
:func:`remove_stale_parts` removes only parts whose writer is gone.
"""

from __future__ import annotations

import errno
import os
import re
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import CannotWrite

PART_SUFFIX = ".part"
LEGACY_PART_AGE_S = 3600.0
"""A part named without a process id (written by an older selfkind) is removed once it has
not changed for this long."""
_PART_RE = re.compile(r"^\..*\.(?P<pid>\d+)\.[a-z0-9_]{8}\.part$")


def temporary_beside(target: Path) -> Path:
    """A new, empty file in the target's folder, hidden, to be renamed over the target."""
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(
        dir=target.parent, prefix=f".{target.name}.{os.getpid()}.", suffix=PART_SUFFIX
    )
    os.close(handle)
    return Path(name)


def _boot_time_s() -> float:
    with open("/proc/stat", encoding="ascii") as stat:
        for line in stat:
            if line.startswith("btime "):
                return float(line.split()[1])
    return 0.0


def process_started_s(pid: int) -> float | None:
    """When a running process started (seconds since the epoch), or None if there is none.
    A zombie counts as gone: it writes nothing more."""
    if not os.path.exists("/proc/self/stat"):
        # No /proc (not Linux): alive or not is all that can be told; count it as old.
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass
        return 0.0
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return None
    if fields[0] in ("Z", "X"):
        return None
    return _boot_time_s() + int(fields[19]) / os.sysconf("SC_CLK_TCK")


def is_stale_part(path: Path, now_s: float | None = None) -> bool:
    """Whether a temporary file's writer is gone: its process has ended, or the process that
    now has its id started after the file was last written (the id was reused)."""
    try:
        modified_s = path.stat().st_mtime
    except FileNotFoundError:
        return False
    match = _PART_RE.match(path.name)
    if match is None:
        return (now_s or time.time()) - modified_s > LEGACY_PART_AGE_S
    started_s = process_started_s(int(match.group("pid")))
    # /proc's start time is only good to a clock tick; a second of slack keeps a part
    # written in its writer's first moments from looking older than the writer.
    return started_s is None or started_s > modified_s + 1.0


def remove_stale_parts(folder: Path, recursive: bool = False) -> int:
    """Remove the temporary files that killed writers left in ``folder``; returns how many.
    Parts of running processes are left alone."""
    if not folder.is_dir():
        return 0
    found = folder.rglob(f".*{PART_SUFFIX}") if recursive else folder.glob(f".*{PART_SUFFIX}")
    removed = 0
    for path in found:
        if path.is_file() and not path.is_symlink() and is_stale_part(path):
            path.unlink(missing_ok=True)
            removed += 1
    return removed


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


_CANNOT_WRITE = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO, errno.EFBIG)


@contextmanager
def writing(path: Path) -> Iterator[None]:
    """Turn a write that the machine refused (a full disk, most often) into one
    :class:`~selfkind.errors.CannotWrite` naming the file; other errors pass unchanged."""
    try:
        yield
    except OSError as err:
        if err.errno in _CANNOT_WRITE:
            raise CannotWrite(f"cannot write {path}: {err.strerror}") from None
        raise
