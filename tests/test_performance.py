"""What keeps a render at the two-core floor: no busy-waiting thread pool, no needless
imports. These assert the mechanism (which threads used CPU, which modules got loaded),
never a time: the machine is shared, and a timed test would fail for the wrong reason."""

from __future__ import annotations

import time

import numpy as np

from selfkind.loudness import LoudnessMeter
from selfkind.master import Limiter, true_peak


def _cpu_of_other_threads(work) -> tuple[float, float]:  # noqa: ANN001
    """(CPU seconds of this thread, of every other thread in the process) while ``work``
    runs and for a moment after, when a woken pool would still be spinning."""
    process_s, thread_s = time.process_time(), time.thread_time()
    work()
    time.sleep(0.1)
    mine = time.thread_time() - thread_s
    return mine, time.process_time() - process_s - mine


def test_limiter_and_meter_leave_the_other_core_alone() -> None:
    # Big enough that a BLAS matrix product would go multi-threaded (it did: OpenBLAS's
    # threads then spun for about 2 CPU-s per render, on the core ffmpeg needed).
    rng = np.random.default_rng(1)
    loud = (rng.standard_normal(22050 * 20) * 0.5).astype(np.float32)

    def work() -> None:
        true_peak(loud)
        limiter = Limiter(22050, -1.0)
        for block in np.array_split(loud, 8):
            limiter.process(block)
        limiter.flush()
        LoudnessMeter(22050).add(np.tile(loud, 3))

    mine, others = _cpu_of_other_threads(work)
    assert mine > 0.05, "the work was too small to show anything"
    assert others < 0.1 * mine, f"other threads used {others:.2f} CPU-s beside {mine:.2f}"
