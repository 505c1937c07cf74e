"""Worker processes that end with the process that started them.

A worker killed with its parent is harmless; a worker that outlives a ``kill -9`` of its
parent goes on rendering and publishing files nobody asked for, into a folder another run
may now be using. ``PR_SET_PDEATHSIG`` would be the kernel's answer, but it fires when the
*thread* that forked the worker ends, and multiprocessing's pool forks replacements from a
helper thread, so a small watcher thread asks for the parent instead.
"""

from __future__ import annotations

import os
import threading
import time

PARENT_CHECK_S = 0.2
"""How often a worker looks for its parent; it stops at most this long after the parent."""


def end_with_parent(parent_pid: int | None = None) -> None:
    """Call first thing in a worker: the worker exits as soon as its parent is gone.
    Files it was writing stay under their temporary names, for the next run to remove."""
    parent_pid = parent_pid or os.getppid()

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(PARENT_CHECK_S)
        os._exit(1)

    if os.getppid() != parent_pid:
        os._exit(1)
    threading.Thread(target=watch, name="end-with-parent", daemon=True).start()
