"""Background files of any length in flat memory, a bounded cache, and no leftovers from a
killed decode or render: real ffmpeg, real processes, real files."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from selfkind import background
from selfkind.background import MAX_DECODED_S, check_background, open_background
from selfkind.cache import ClipCache
from selfkind.script import parse_script

from .conftest import SESSION_RATE_HZ, peak_rss

SCRIPT = "---\nbackground: bed.flac\nbackground_level: -20dB\n---\nHello, and welcome.\n"


def _lavfi(source: str, path: Path, *extra: str) -> Path:
    subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", source, *extra, "-y", str(path)], check=True
    )
    return path


def test_a_five_hour_background_renders_in_flat_memory(tmp_path: Path) -> None:
    # The audit's file: five hours of silence, 3.4 MB of FLAC, 1.6 GB once decoded whole;
    # against a three-minute bed (past the two minutes measured for its level).
    _lavfi("anullsrc=r=8000:cl=mono", tmp_path / "bed.flac", "-t", "18000", "-c:a", "flac")
    _lavfi("anullsrc=r=8000:cl=mono", tmp_path / "short.flac", "-t", "180", "-c:a", "flac")
    (tmp_path / "long.md").write_text(SCRIPT)
    (tmp_path / "short.md").write_text(SCRIPT.replace("bed.flac", "short.flac"))
    short = peak_rss(["render", "short.md", "-o", "short.wav"], tmp_path)
    assert short.exit_code == 0, short.stderr
    long = peak_rss(["render", "long.md", "-o", "long.wav"], tmp_path)
    assert long.exit_code == 0 and (tmp_path / "long.wav").is_file(), long.stderr
    short_mb, long_mb = short.own_mb, long.own_mb
    print(f"peak memory: {short_mb:.0f} MB with a 3-minute bed, {long_mb:.0f} MB with 5 hours")
    assert long_mb < short_mb + 20
    beds = list((Path(os.environ["SELFKIND_HOME"]) / "cache" / "backgrounds").glob("*.f32"))
    sizes = [bed.stat().st_size for bed in beds]
    assert max(sizes) <= MAX_DECODED_S * SESSION_RATE_HZ * 4


def test_the_background_cache_keeps_to_its_bound_and_drops_the_least_recently_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache_dir = tmp_path / "cache"
    one_bed_bytes = 12 * SESSION_RATE_HZ * 4
    monkeypatch.setattr(background, "BACKGROUND_CACHE_BYTES", round(2.5 * one_bed_bytes))
    scripts = {}
    for name, freq in (("a", 220), ("b", 330), ("c", 440)):
        _lavfi(f"sine=frequency={freq}:duration=12", tmp_path / f"{name}.wav")
        scripts[name] = parse_script(
            f"---\nbackground: {name}.wav\n---\nHi.\n", str(tmp_path / "s.md")
        )

    def use(name: str) -> None:
        check_background(scripts[name], f"{name}.wav", SESSION_RATE_HZ, cache_dir)
        time.sleep(0.05)  # a distinct time of last use for each

    def cached() -> int:
        return len(list((cache_dir / "backgrounds").glob("*.f32")))

    use("a")
    use("b")
    use("a")  # a is now the more recently used
    assert cached() == 2
    first = {p.name for p in (cache_dir / "backgrounds").glob("*.f32")}
    use("c")  # past the bound: b, the least recently used, goes
    kept = {p.name for p in (cache_dir / "backgrounds").glob("*.f32")}
    assert cached() == 2 and len(kept & first) == 1
    use("a")  # still there: no decode needed, so nothing else is evicted
    assert kept == {p.name for p in (cache_dir / "backgrounds").glob("*.f32")}
    total = sum(p.stat().st_size for p in (cache_dir / "backgrounds").iterdir())
    assert total <= 2.5 * one_bed_bytes


def test_the_clip_cache_keeps_to_its_bound_but_never_drops_a_clip_in_use(tmp_path: Path) -> None:
    cache = ClipCache(tmp_path / "clips")
    clip = np.zeros(25_000, dtype=np.float32)  # 100 kB
    keys = [ClipCache.key("voice", f"text {i}", SESSION_RATE_HZ) for i in range(6)]
    for age_h, key in enumerate(keys):
        cache.store(key, clip)
        past = time.time() - 3600 * (10 - age_h)  # the first stored, the least recent
        os.utime(cache.path(key), (past, past))
    assert cache.n_frames(keys[0]) == 25_000  # just used: kept, though stored first
    removed = cache.trim(max_bytes=350_000)
    assert removed == 3
    assert [cache.n_frames(key) is not None for key in keys] == [True, False, False, False] + [
        True,
        True,
    ]


def _dead_pid() -> int:
    gone = subprocess.Popen(["true"])
    gone.wait()
    return gone.pid


def test_a_killed_decode_leaves_nothing_for_long(tmp_path: Path) -> None:
    cache_dir = tmp_path / "cache"
    folder = cache_dir / "backgrounds"
    folder.mkdir(parents=True)
    left = folder / f".abc-22050-600s.f32.{_dead_pid()}.x1y2z3w4.part"
    left.write_bytes(b"\0" * 100_000)
    _lavfi("sine=frequency=220:duration=12", tmp_path / "a.wav")
    script = parse_script("---\nbackground: a.wav\n---\nHi.\n", str(tmp_path / "s.md"))
    check_background(script, "a.wav", SESSION_RATE_HZ, cache_dir)
    assert not left.exists()
    assert [p.suffix for p in folder.iterdir()] == [".f32"]
    # A session with no file bed clears them too, and the whole decodes of older versions.
    left.write_bytes(b"\0" * 100_000)
    old = folder / "0123abcd-22050.npy"
    old.write_bytes(b"\0" * 100_000)
    assert open_background(script, "none", SESSION_RATE_HZ, -23.0, cache_dir) is None
    assert not left.exists() and not old.exists()


def test_a_killed_render_leaves_no_parts_after_the_next_run(tmp_path: Path) -> None:
    (tmp_path / "s.md").write_text("Hello there.\n\n[pause 40m]\n\nGoodbye.\n")
    out = tmp_path / "out"
    process = subprocess.Popen(
        [sys.executable, "-m", "selfkind", "render", "s.md", "-o", "out/s.wav"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while not [p for p in out.glob(".s.wav.*.part") if p.stat().st_size > 1_000_000]:
        assert time.monotonic() < deadline and process.poll() is None
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    time.sleep(0.3)  # ffmpeg, its stdin gone, closes the part
    left = list(out.glob(".*.part"))
    assert left, "the kill came too late to leave a part behind"
    (tmp_path / "s.md").write_text("Hello again.\n")
    result = subprocess.run(
        [sys.executable, "-m", "selfkind", "render", "s.md", "-o", "out/s.wav"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["s.json", "s.vtt", "s.wav"]
