"""What keeps a render at the two-core floor: no busy-waiting thread pool, no needless
imports. These assert the mechanism (which threads used CPU, which modules got loaded),
never a time: the machine is shared, and a timed test would fail for the wrong reason."""

from __future__ import annotations

import argparse
import multiprocessing
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

from selfkind import engines
from selfkind.cache import ClipCache
from selfkind.cli import build_parser, command_function
from selfkind.dsp import running_min_coarse
from selfkind.engines import engine_threads, open_engine
from selfkind.loudness import LoudnessMeter
from selfkind.master import Limiter, true_peak
from selfkind.synth import synthesize_script
from selfkind.voices import load_voice


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


class _DenseLimiter(Limiter):
    """The limiter with its gain computed over every frame of each buffer, as it was
    before it went sparse: the reference the sparse one must match."""

    def _limit(self, signal: np.ndarray, ready: int) -> np.ndarray:
        start = self._history
        loud = np.abs(signal) > self.ceiling * 10 ** (-4 / 20)
        near = np.flatnonzero(np.convolve(loud, np.ones(7, bool), mode="same"))
        peaks = true_peak(signal, near)
        wanted = np.ones(signal.size)
        wanted[near[peaks > self.ceiling]] = self.ceiling / peaks[peaks > self.ceiling]
        a, h = self.lookahead, self.hold
        held = running_min_coarse(wanted, before=h, after=a)
        csum = np.concatenate([[0.0], np.cumsum(held)])
        idx = np.arange(start, start + ready)
        gain = (csum[idx + 1] - csum[idx + 1 - a]) / a
        return (signal[start : start + ready] * gain).astype(np.float32)


def test_the_sparse_limiter_gives_the_dense_limiters_output() -> None:
    rng = np.random.default_rng(7)
    for case in range(12):
        samples = (rng.standard_normal(int(rng.integers(2000, 40000))) * 0.3).astype(np.float32)
        spikes = rng.integers(0, samples.size, int(rng.integers(1, 30)))
        samples[spikes] = rng.uniform(-2.0, 2.0, spikes.size)
        lookahead_s = 0.003 if case % 2 else 0.008
        blocks = np.array_split(samples, int(rng.integers(1, 9)))
        limiter, dense = Limiter(22050, -1.5, lookahead_s), _DenseLimiter(22050, -1.5, lookahead_s)
        got = np.concatenate([*(limiter.process(b) for b in blocks), limiter.flush()])
        expected = np.concatenate([*(dense.process(b) for b in blocks), dense.flush()])
        assert got.shape == expected.shape == samples.shape
        assert np.abs(got - expected).max() < 1e-7, case
        assert limiter.peak_gain_reduction_db > 0.5, "the case never limited"


def test_the_natural_voice_synthesizes_in_one_process_on_every_core(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One model on every core, not one model per worker process: half the memory, and no
    # onnxruntime pools fighting over the same two cores.
    monkeypatch.setattr(engines, "_loaded", False)  # as in a fresh `selfkind render`
    profile = load_voice("natural")
    texts = [f"Breathe in, number {i}." for i in range(8)]
    children_seen: list[int] = []
    synthesize_script(
        texts,
        profile,
        ClipCache(tmp_path),
        jobs=2,
        on_clip=lambda: children_seen.append(len(multiprocessing.active_children())),
    )
    assert len(children_seen) == len(texts)
    assert max(children_seen) == 0
    session = open_engine(profile)._voice.session  # type: ignore[attr-defined]  # noqa: SLF001
    for part in (session.encoder, session.decoder):  # the model cut in two (piper_split.py)
        assert part.get_session_options().intra_op_num_threads == engine_threads()


def test_a_worker_gets_its_share_of_the_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engines, "_cores", None)
    assert engine_threads() == len(os.sched_getaffinity(0))

    def blas_threads() -> list[int]:
        return [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]

    assert blas_threads(), "numpy's BLAS library was not found"
    with threadpool_limits(limits=None):  # puts this process's pools back afterwards
        engines.share_cores(1)
        assert engine_threads() == 1
        assert blas_threads() == [1] * len(blas_threads())
