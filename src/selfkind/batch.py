"""Many scripts x lengths x voices -> a folder of finished files, in worker processes.

Each render is the renderer's own (prepare_session + render_session), run in a worker; this
module only plans the work, skips what is up to date, survives bad scripts and writes the
index and playlist. Workers share the clip cache, whose entries are written atomically.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import multiprocessing
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from . import __version__, files
from .engines import engine_loaded, engine_threads, share_cores
from .errors import FolderBusy, ScriptError, ScriptErrors, SelfkindError, one_or_all
from .files import publish, temporary_beside, writing
from .lifetime import end_with_parent
from .practices import practice_text
from .render import companion_paths, load_script, prepare_session, render_session, resolve_voice
from .units import format_duration

STATUS_RENDERED, STATUS_SKIPPED, STATUS_FAILED = "rendered", "skipped", "failed"
LOCK_NAME = ".selfkind-batch.lock"
"""Held (flock) by the batch writing into a folder; it holds that batch's process id."""


@dataclass(frozen=True)
class Job:
    """One output to make: a script at one length in one voice."""

    source: str
    """Script path, or the name of a built-in practice."""
    output: str
    """Audio file to write."""
    fmt: str
    duration_s: float | None = None
    voice: str | None = None
    pace: float = 1.0
    """Above 1 faster, below 1 slower (see VoiceProfile.paced)."""
    track: tuple[int, int] | None = None
    """(number, total) within the batch, for the file's tags."""


@dataclass
class Outcome:
    job: Job
    status: str
    reason: str = ""
    """Why it failed: one line per mistake (see ``reasons``)."""
    reasons: tuple[str, ...] = ()
    """The same, one entry per mistake, so a name holding a newline is never split."""
    title: str = ""
    duration_s: float = 0.0
    voice: str = ""
    sections: list[dict[str, object]] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)
    """The file's own tags (title, artist, album, genre, track), as its manifest records."""


def find_scripts(paths: Sequence[str]) -> list[tuple[str, Path]]:
    """(source, path relative to the output folder, without suffix) for every script named.

    A folder is searched recursively for ``.md`` files and keeps its layout in the output; a
    file or practice name lands at the top.
    """
    found: list[tuple[str, Path]] = []
    for given in paths:
        path = Path(given)
        if path.is_dir():
            for script in sorted(path.rglob("*.md")):
                found.append((str(script), script.relative_to(path).with_suffix("")))
        elif path.is_file() or practice_text(given) is None:
            found.append((given, Path(path.stem)))
        else:
            found.append((given, Path(given)))
    return found


def plan(
    paths: Sequence[str],
    out_dir: Path,
    fmt: str,
    durations_s: Sequence[float | None],
    voices: Sequence[str | None],
    pace: float = 1.0,
) -> list[Job]:
    """Every combination of script, length and voice, each with its own output name."""
    jobs = []
    for source, relative in find_scripts(paths):
        for duration_s in durations_s:
            for voice in voices:
                name = relative.name
                if duration_s is not None and len(durations_s) > 1:
                    name += f"-{format_duration(duration_s)}"
                if voice is not None and len(voices) > 1:
                    name += f"-{voice}"
                output = out_dir / relative.parent / f"{name}.{fmt}"
                jobs.append(Job(source, str(output), fmt, duration_s, voice, pace))
    _refuse_clashes(jobs)
    return [replace(job, track=(n, len(jobs))) for n, job in enumerate(jobs, start=1)]


def _refuse_clashes(jobs: Sequence[Job]) -> None:
    """Two renders may not share an output (one would silently replace the other): the same
    name in two folders given side by side, or one length written two ways (5m and 300s)."""
    by_output: dict[str, list[Job]] = {}
    for job in jobs:
        by_output.setdefault(job.output, []).append(job)
    errors = []
    for output, group in by_output.items():
        if len(group) > 1:
            inputs = ", ".join(_described(job) for job in group)
            errors.append(
                ScriptError(
                    group[0].source,
                    0,
                    0,
                    f"{output} would be written by {len(group)} renders ({inputs});"
                    " give each script its own name or folder, and each length once",
                )
            )
    if errors:
        raise one_or_all(errors)


def _described(job: Job) -> str:
    text = job.source
    if job.duration_s is not None:
        text += f" at {format_duration(job.duration_s)} ({job.duration_s:g}s)"
    if job.voice is not None:
        text += f" in the {job.voice} voice"
    return text


@contextlib.contextmanager
def folder_lock(out_dir: Path) -> Iterator[None]:
    """Hold the output folder for one batch: a second batch into the same folder is refused
    at once, naming the process that holds it, rather than waiting an unknown time. The
    lock is the kernel's (flock), so it ends with its holder, however that ends."""
    out_dir.mkdir(parents=True, exist_ok=True)
    lock_path = out_dir / LOCK_NAME
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            raise FolderBusy(
                f"another batch (process {holder}) is writing into {out_dir}; wait for it"
                " to finish or choose another folder"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        yield
    finally:
        os.close(fd)


def build_key(job: Job) -> str:
    """What decides whether an output is up to date: script, voice, options, program version."""
    script = load_script(job.source)
    voice = resolve_voice(script, job.voice, job.pace)
    source_path = Path(job.source)
    script_bytes = (
        source_path.read_bytes() if source_path.is_file() else practice_text(job.source) or b""
    )
    material = json.dumps(
        {
            "version": __version__,
            "script": hashlib.sha256(script_bytes).hexdigest(),
            "voice": voice.cache_identity(),
            "gap_s": voice.gap_s,
            "breath_s": voice.breath_s,
            "format": job.fmt,
            "duration_s": job.duration_s,
            "track": job.track,
        },
        sort_keys=True,
    )
    return hashlib.sha256(material.encode()).hexdigest()[:24]


def _up_to_date(job: Job, key: str) -> dict | None:
    audio = Path(job.output)
    _, manifest_path = companion_paths(audio)
    if not audio.is_file() or not manifest_path.is_file():
        return None
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return manifest if manifest.get("build_key") == key else None


def run_job(job: Job, force: bool = False) -> Outcome:
    """Render one job (in a worker); every failure comes back as an Outcome, never raised."""
    try:
        key = build_key(job)
        manifest = None if force else _up_to_date(job, key)
        if manifest is None:
            script = load_script(job.source)
            session = prepare_session(script, job.voice, job.duration_s, pace=job.pace)
            rendered = render_session(
                session, Path(job.output), job.fmt, extra={"build_key": key}, track=job.track
            )
            manifest = json.loads(rendered.manifest.read_text(encoding="utf-8"))
            status = STATUS_RENDERED
        else:
            status = STATUS_SKIPPED
    except ScriptError as err:
        # An error about an option (say --duration) still has to name the script it hit.
        mistakes = err.errors if isinstance(err, ScriptErrors) else (err,)
        reasons = tuple(
            str(one) if str(one).startswith(job.source) else f"{job.source}: {one}"
            for one in mistakes
        )
        return Outcome(job, STATUS_FAILED, "\n".join(reasons), reasons)
    except SelfkindError as err:
        reason = f"{job.source}: {err}"
        return Outcome(job, STATUS_FAILED, reason, (reason,))
    sections = [
        {"title": e["text"], "start_s": e["start_s"]}
        for e in manifest["events"]
        if e["kind"] == "section"
    ]
    return Outcome(
        job,
        status,
        title=manifest.get("tags", {}).get("title", manifest["title"]),
        tags=manifest.get("tags", {}),
        duration_s=manifest["duration_s"],
        voice=manifest.get("voice", ""),
        sections=sections,
    )


def _quiet_worker(parent_pid: int, cores: int) -> None:
    # A worker that outlived a killed parent would go on publishing files.
    end_with_parent(parent_pid)
    # Workers side by side share the cores: each engine's thread pool gets its part.
    share_cores(cores)
    # A worker's output would tangle with the progress display; results come back as data.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)


def run_batch(
    jobs: Sequence[Job],
    workers: int,
    force: bool = False,
    on_outcome: Callable[[Outcome], None] | None = None,
) -> list[Outcome]:
    """Run every job, ``workers`` at a time; outcomes come back in the order of ``jobs``."""
    report = on_outcome or (lambda _: None)
    results: dict[int, Outcome] = {}
    # Forking a process whose speech engine is running hangs the children (see synth.py);
    # the command-line batch never starts one in its parent, but a caller might have.
    if workers <= 1 or len(jobs) <= 1 or engine_loaded():
        for index, job in enumerate(jobs):
            results[index] = run_job(job, force)
            report(results[index])
    else:
        context = multiprocessing.get_context("fork")
        with context.Pool(
            workers,
            initializer=_quiet_worker,
            initargs=(os.getpid(), engine_threads() // workers),
            maxtasksperchild=20,
        ) as pool:
            for index, outcome in _unordered(pool, jobs, force):
                results[index] = outcome
                report(outcome)
    return [results[i] for i in range(len(jobs))]


def _indexed(item: tuple[int, Job, bool]) -> tuple[int, Outcome]:
    index, job, force = item
    return index, run_job(job, force)


def _unordered(pool, jobs: Sequence[Job], force: bool) -> Iterator[tuple[int, Outcome]]:  # noqa: ANN001
    items = [(index, job, force) for index, job in enumerate(jobs)]
    yield from pool.imap_unordered(_indexed, items)


def remove_stale_parts(out_dir: Path) -> int:
    """Temporary files left by a killed render or batch (never under a final name), in the
    whole output tree; a running process's files are left alone. Returns how many."""
    return files.remove_stale_parts(out_dir, recursive=True)


def write_index(out_dir: Path, outcomes: Sequence[Outcome]) -> tuple[Path, Path]:
    """``index.json`` (every output: title, length, voice, sections) and ``playlist.m3u``."""
    done = [o for o in outcomes if o.status != STATUS_FAILED]
    entries = []
    for outcome in done:
        relative = os.path.relpath(outcome.job.output, out_dir)
        track = outcome.job.track
        entries.append(
            {
                "file": relative,
                "title": outcome.title,
                "album": outcome.tags.get("album", ""),
                "artist": outcome.tags.get("artist", ""),
                "genre": outcome.tags.get("genre", ""),
                "track": track[0] if track else None,
                "duration_s": outcome.duration_s,
                "voice": outcome.voice,
                "source": outcome.job.source,
                "sections": outcome.sections,
            }
        )
    index_path, playlist_path = out_dir / "index.json", out_dir / "playlist.m3u"
    document = {"version": __version__, "outputs": entries}
    lines = ["#EXTM3U"]
    for entry in entries:
        lines += [f"#EXTINF:{round(entry['duration_s'])},{entry['title']}", entry["file"]]
    for final, text in (
        (index_path, json.dumps(document, indent=2, ensure_ascii=False) + "\n"),
        (playlist_path, "\n".join(lines) + "\n"),
    ):
        with writing(final):
            temp = temporary_beside(final)
            try:
                temp.write_text(text, encoding="utf-8")
                publish(temp, final)
            finally:
                temp.unlink(missing_ok=True)
    return index_path, playlist_path
