"""What keeps a render at the two-core floor: no busy-waiting thread pool, no needless
imports. These assert the mechanism (which threads used CPU, which modules got loaded),
never a time: the machine is shared, and a timed test would fail for the wrong reason."""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

import numpy as np

from selfkind.cli import build_parser, command_function
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


def test_help_and_the_parser_load_no_numpy_and_no_command() -> None:
    # A fresh interpreter: this test process has numpy loaded already.
    probe = (
        "import sys\n"
        "from selfkind.cli import main\n"
        "try:\n"
        "    main(['--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = ('numpy', 'selfkind.render', 'selfkind.cli.render', 'selfkind.cli.guide',\n"
        "         'selfkind.cli.listen', 'rich', 'sounddevice')\n"
        "print(' '.join(name for name in heavy if name in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert "usage: selfkind" in result.stdout
    assert result.stdout.splitlines()[-1] == "", f"loaded: {result.stdout.splitlines()[-1]}"


def test_every_command_names_a_function_that_exists() -> None:
    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))  # noqa: SLF001
    assert len(commands.choices) >= 10
    for name, subparser in commands.choices.items():
        run = subparser.get_default("run")
        assert isinstance(run, str), name
        assert callable(command_function(run)), name
