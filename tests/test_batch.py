"""Batch rendering with real workers, real espeak-ng and real ffmpeg."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .conftest import SESSION_RATE_HZ, cli, decode, run

GOOD = "# Opening\nA kind word, to begin.\n[pause 2s..20s]\n# Closing\nAnd a kind word to end.\n"


@pytest.fixture()
def library(tmp_path: Path) -> Path:
    folder = tmp_path / "library"
    (folder / "nested").mkdir(parents=True)
    (folder / "one.md").write_text(GOOD)
    (folder / "nested" / "two.md").write_text(GOOD.replace("begin", "start"))
    (folder / "nested" / "broken.md").write_text("Hello.\n\n  [pase 3s]\n")
    return folder


def test_batch_renders_every_combination_and_survives_a_bad_script(
    library: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    # A fresh process, so the parallel path is taken whatever this one ran before; its
    # worker processes are counted as they appear.
    process = subprocess.Popen(
        [sys.executable, "-m", "selfkind", "batch", str(library), "-o", str(out),
         "--format", "wav", "--duration", "15s,25s", "--jobs", "2"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    children = Path(f"/proc/{process.pid}/task/{process.pid}/children")
    most_workers = 0
    while process.poll() is None:
        with contextlib.suppress(OSError):
            most_workers = max(most_workers, len(children.read_text().split()))
        time.sleep(0.02)
    stdout, stderr = process.communicate()
    code = process.returncode
    assert most_workers == 2
    assert code == 1  # one script failed...
    assert f"{library}/nested/broken.md:3:3: unknown directive [pase 3s]" in stderr
    assert stderr.count("unknown directive") == 1  # once, not once per length
    assert "4 rendered, 0 up to date, 2 failed" in stdout  # ...and the others were rendered
    for name in ("one-15s", "one-25s", "nested/two-15s", "nested/two-25s"):
        audio = out / f"{name}.wav"
        assert audio.is_file() and audio.with_suffix(".vtt").is_file()
        expected_s = 15 if name.endswith("15s") else 25
        assert decode(audio).size / SESSION_RATE_HZ == pytest.approx(expected_s, abs=0.05)
    index = json.loads((out / "index.json").read_text())
    files = sorted(entry["file"] for entry in index["outputs"])
    assert files == ["nested/two-15s.wav", "nested/two-25s.wav", "one-15s.wav", "one-25s.wav"]
    assert index["outputs"][0]["sections"][0]["title"] == "Opening"
    # A phone's list tells the lengths apart, and numbers the tracks within the batch.
    entries = {entry["file"]: entry for entry in index["outputs"]}
    assert entries["one-15s.wav"]["title"] == "Opening (15 s, default)"
    assert entries["one-25s.wav"]["title"] == "Opening (25 s, default)"
    assert {e["album"] for e in entries.values()} == {"selfkind"}
    assert {e["genre"] for e in entries.values()} == {"Meditation"}
    assert len({e["track"] for e in entries.values()}) == 4
    playlist = (out / "playlist.m3u").read_text().splitlines()
    assert playlist[0] == "#EXTM3U" and "one-15s.wav" in playlist
    assert "#EXTINF:15,Opening (15 s, default)" in playlist


def test_a_second_run_skips_what_is_up_to_date_and_force_renders_again(
    library: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (library / "nested" / "broken.md").unlink()
    out = tmp_path / "out"
    args = ["batch", str(library), "-o", str(out), "--format", "wav", "--jobs", "1"]
    assert cli(capsys, *args)[0] == 0
    first = (out / "one.wav").stat().st_mtime_ns
    code, stdout, _ = cli(capsys, *args)
    assert code == 0 and "0 rendered, 2 up to date" in stdout
    assert (out / "one.wav").stat().st_mtime_ns == first
    # Editing a script makes only its output stale.
    (library / "one.md").write_text(GOOD.replace("to end", "to close"))
    assert "1 rendered, 1 up to date" in cli(capsys, *args)[1]
    assert "2 rendered, 0 up to date" in cli(capsys, *args, "--force")[1]


def test_leftovers_of_a_killed_batch_are_cleared_and_a_running_ones_kept(
    library: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    (out / "nested").mkdir(parents=True)
    gone = subprocess.Popen(["true"])
    gone.wait()
    stale = out / "nested" / f".two.wav.{gone.pid}.abcd1234.part"  # its writer has ended
    stale.write_bytes(b"half a file")
    old = out / ".one.wav.abc123.part"  # an older selfkind's, untouched for two hours
    old.write_bytes(b"half a file")
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    alive = subprocess.Popen(["sleep", "30"])
    try:
        running = out / f".one.wav.{alive.pid}.abcd1234.part"  # still being written
        running.write_bytes(b"a file on its way")
        cli(capsys, "batch", str(library / "one.md"), "-o", str(out), "--format", "wav")
        assert not stale.exists() and not old.exists() and running.exists()
        assert (out / "one.wav").is_file()
    finally:
        alive.kill()
        alive.wait()


def test_outputs_that_would_collide_are_refused_before_any_render(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for folder in ("morning", "evening"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "calm.md").write_text(GOOD)
    out = tmp_path / "out"
    morning, evening = str(tmp_path / "morning"), str(tmp_path / "evening")
    cases = [
        # The same name from two folders, flattened into one.
        ([f"{morning}/calm.md", f"{evening}/calm.md"], [], f"{morning}/calm.md, {evening}/calm.md"),
        ([morning, evening], [], f"{morning}/calm.md, {evening}/calm.md"),
        # One length written two ways.
        ([f"{morning}/calm.md"], ["--duration", "5m,300s"], "at 5m (300s), "),
    ]
    for paths, options, names in cases:
        code, stdout, stderr = cli(capsys, "batch", *paths, "-o", str(out), *options)
        assert code == 2, stderr
        assert f"{out}/calm" in stderr and "would be written by 2 renders" in stderr
        assert names in stderr
        assert not out.exists()


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def _outlived_by(parent: subprocess.Popen[str], workers: list[int]) -> list[int]:
    """Kill ``parent`` with -9; the workers still running 2 s later."""
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 2.0
    while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    return [pid for pid in workers if _alive(pid)]


def _start_batch(library: Path, out: Path, jobs: int = 2) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "selfkind", "batch", str(library), "-o", str(out),
         "--format", "flac", "--jobs", str(jobs)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _wait_for_parts(out: Path, process: subprocess.Popen[str], n: int = 1) -> None:
    deadline = time.monotonic() + 60
    while len(list(out.rglob(".*.flac.*.part"))) < n:
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.05)


@pytest.fixture()
def slow_library(tmp_path: Path) -> Path:
    """Scripts that take seconds to render (long pauses), so a batch can be caught mid-way."""
    folder = tmp_path / "slow"
    folder.mkdir()
    for index in range(3):
        (folder / f"s{index}.md").write_text(f"Number {index}, and rest.\n\n[pause 40m]\n\nEnd.\n")
    return folder


def test_a_second_batch_into_the_same_folder_is_refused_and_the_first_finishes(
    slow_library: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    first = _start_batch(slow_library, out)
    _wait_for_parts(out, first)
    # Held still (its workers go on), so the first cannot finish while the second starts.
    first.send_signal(signal.SIGSTOP)
    try:
        code, _, err = run("batch", str(slow_library), "-o", str(out), "--format", "flac")
    finally:
        first.send_signal(signal.SIGCONT)
    assert code == 1
    assert err.strip() == (
        f"selfkind: another batch (process {first.pid}) is writing into {out};"
        " wait for it to finish or choose another folder"
    )
    stdout, stderr = first.communicate(timeout=300)
    assert first.returncode == 0, stderr
    assert "3 rendered" in stdout and "Traceback" not in stderr
    assert sorted(p.name for p in out.glob("*.flac")) == ["s0.flac", "s1.flac", "s2.flac"]
    assert not list(out.rglob("*.part"))


def test_workers_stop_when_their_batch_is_killed(slow_library: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    parent = _start_batch(slow_library, out)
    _wait_for_parts(out, parent, n=2)
    workers = [pid for pid in _children(parent.pid) if _alive(pid)]
    assert len(workers) >= 2
    assert _outlived_by(parent, workers) == [], "a worker outlived its batch"
    time.sleep(1.0)  # an orphan would publish here
    assert not list(out.glob("*.flac")) and not list(out.glob("*.json"))
    # The next run finds the parts of the dead workers and clears them.
    code, stdout, _ = run("batch", str(slow_library), "-o", str(out), "--format", "flac")
    assert code == 0 and "3 rendered" in stdout
    assert not list(out.rglob("*.part"))


def test_synthesis_workers_stop_when_their_render_is_killed(tmp_path: Path) -> None:
    # Sentences no cache has seen, enough for two workers to be busy for seconds.
    stamp = time.time_ns()
    lines = [f"Sentence {n} of run {stamp}, spoken slowly and kindly." for n in range(160)]
    (tmp_path / "many.md").write_text("\n\n".join(lines) + "\n")
    render = subprocess.Popen(
        [sys.executable, "-m", "selfkind", "render", "many.md", "-o", "many.wav", "--jobs", "2"],
        cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while len([pid for pid in _children(render.pid) if _alive(pid)]) < 2:
        assert render.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(0.5)  # the workers are synthesizing now
    workers = [pid for pid in _children(render.pid) if _alive(pid)]
    assert _outlived_by(render, workers) == [], "a synthesis worker outlived its render"
