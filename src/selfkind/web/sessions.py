"""Practices made ready for the player: rendered once into the user's cache folder (audio,
captions and manifest side by side), then served from there at once.

A render runs in one worker thread at a time (two would only share the same two cores and
double the memory); the page polls its :class:`RenderJob` for progress.
"""

from __future__ import annotations

import hashlib
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from .. import paths
from ..cache import touch, trim
from ..errors import SelfkindError
from ..estimate import estimated_length_range_s
from ..practices import practice_names, practice_text
from ..render import Progress, companion_paths, load_script, render_file, resolve_voice
from ..script import MAX_SCRIPT_BYTES, Script
from ..units import format_about, format_duration

SESSION_FORMAT = "wav"
"""Encoding is most of a render's time (10 minutes: WAV 0.9 s from play to sound, MP3 1.7 s,
on 2 shared cores), and the page is heard on this computer or its own network, where 350
kbit/s of 22 kHz mono is nothing; every browser plays and seeks it."""
KEY_PATTERN = re.compile(r"^[0-9a-f]{24}$")
SESSIONS_BYTES = 500 << 20
"""Rendered sessions kept for the player (about 3 hours of WAV); the least recently played
go first, and never one played in the last hour."""
TYPED_KEPT = 50
"""Typed scripts kept (as files, for their previews), the newest."""
LENGTH_CHOICES_S = (180, 300, 600, 900, 1200, 1800, 2700, 3600)
"""Round lengths offered when the script can take them (besides its own)."""


def sessions_dir() -> Path:
    return paths.user_cache_dir() / "web-sessions"


@dataclass(frozen=True)
class Practice:
    """A script the library shows: built-in (``name``) or the person's own (a file)."""

    id: str
    """``name`` for a built-in practice, ``mine/FILE.md`` for one in the person's folder."""
    source: str
    """What :func:`load_script` takes: the built-in's name or the file's path."""
    script: Script
    low_s: float
    high_s: float
    voice: str

    @property
    def lengths(self) -> list[tuple[float, str]]:
        """(seconds, label) choices: the script's own length first, then round ones."""
        out: list[tuple[float, str]] = []
        own = self.script.front.duration_s
        if own is not None:
            out.append((own, f"{format_duration(own)} (its usual length)"))
        for seconds in LENGTH_CHOICES_S:
            if self.low_s <= seconds <= self.high_s and seconds != own:
                out.append((float(seconds), format_duration(seconds)))
        if not out:
            out.append((self.low_s, format_about(self.low_s)))
        return out

    @property
    def length_note(self) -> str:
        """What the library says of its length, rounded as the guide and the practice page
        round an estimate: one figure when it cannot vary (a range read "23s to 23s")."""
        low, high = format_about(self.low_s), format_about(self.high_s)
        note = f"Lasts {low}" if low == high else f"Can be {low} to {high.removeprefix('about ')}"
        if self.script.front.duration_s:
            note += f"; usually {format_duration(self.script.front.duration_s)}"
        return note

    def source_bytes(self) -> bytes:
        data = practice_text(self.source) if self.id == self.source else None
        if data is None:
            with open(self.source, "rb") as handle:
                data = handle.read(MAX_SCRIPT_BYTES + 1)
        return data


def load_practice(practice_id: str, own_folder: Path | None) -> Practice | None:
    """The practice by its id, or None if there is none (never a path outside the folder)."""
    if practice_id.startswith("mine/"):
        if own_folder is None:
            return None
        name = practice_id.removeprefix("mine/")
        candidate = own_folder / name
        if "/" in name or not name.endswith(".md") or not candidate.is_file():
            return None
        source = str(candidate)
    elif practice_id in practice_names():
        source = practice_id
    else:
        return None
    script = load_script(source)
    voice = resolve_voice(script, None)
    low_s, high_s = estimated_length_range_s(script, voice)
    return Practice(practice_id, source, script, low_s, high_s, voice.name)


def library(own_folder: Path | None) -> tuple[list[Practice], list[tuple[str, str]]]:
    """Every practice that loads, and (file, reason) for the person's scripts that do not."""
    found: list[Practice] = []
    broken: list[tuple[str, str]] = []
    ids = list(practice_names())
    if own_folder is not None and own_folder.is_dir():
        ids += [f"mine/{p.name}" for p in sorted(own_folder.glob("*.md"))]
    for practice_id in ids:
        try:
            practice = load_practice(practice_id, own_folder)
        except SelfkindError as err:
            broken.append((practice_id, str(err)))
            continue
        if practice is not None:
            found.append(practice)
    return found, broken


def session_key(practice: Practice, voice: str, duration_s: float | None) -> str:
    """Names the rendered files: the script's bytes, the voice and the length."""
    digest = hashlib.sha256(practice.source_bytes())
    length = "own" if duration_s is None else f"{duration_s:.3f}"
    digest.update(f"\0{voice}\0{length}\0{SESSION_FORMAT}".encode())
    return digest.hexdigest()[:24]


def session_files(key: str) -> tuple[Path, Path, Path]:
    """Audio, captions, manifest of a rendered session (which may not exist yet)."""
    audio = sessions_dir() / f"{key}.{SESSION_FORMAT}"
    return (audio, *companion_paths(audio))


def is_rendered(key: str) -> bool:
    return all(path.is_file() for path in session_files(key))


def played(key: str) -> None:
    """Mark a session as just used, so trimming takes others first."""
    touch(session_files(key)[0])


def trim_sessions(keep: str, max_bytes: int = SESSIONS_BYTES) -> None:
    """Keep the rendered sessions under ``max_bytes`` (and the typed scripts few): the
    audio of the least recently played goes, then captions and manifests left without it."""
    folder = sessions_dir()
    trim(folder, max_bytes, f"*.{SESSION_FORMAT}", keep=[session_files(keep)[0]])
    for companion in (*folder.glob("*.vtt"), *folder.glob("*.json")):
        if not companion.with_suffix(f".{SESSION_FORMAT}").exists():
            companion.unlink(missing_ok=True)
    typed = sorted((folder / "typed").glob("*.md"), key=lambda p: p.stat().st_mtime)
    for old in typed[:-TYPED_KEPT]:
        old.unlink(missing_ok=True)


class WebProgress(Progress):
    """Progress the page can read: what is being done and how far it is, 0..1."""

    def __init__(self) -> None:
        self.label = "Waiting to start"
        self.done = 0
        self.total = 0

    def start(self, label: str, total: int) -> None:
        self.label, self.done, self.total = label, 0, total

    def advance(self, amount: int = 1) -> None:
        self.done += amount

    @property
    def fraction(self) -> float:
        return min(self.done / self.total, 1.0) if self.total else 0.0


@dataclass
class RenderJob:
    key: str
    progress: WebProgress = field(default_factory=WebProgress)
    error: str | None = None
    finished: bool = False


class Renderer:
    """Renders sessions one at a time; asking again for one under way joins it."""

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="render")
        self._jobs: dict[str, RenderJob] = {}
        self._lock = threading.Lock()

    def job(self, key: str) -> RenderJob | None:
        with self._lock:
            return self._jobs.get(key)

    def request(self, practice: Practice, voice: str, duration_s: float | None) -> RenderJob:
        """``duration_s`` None: the script's own length (or its shortest)."""
        key = session_key(practice, voice, duration_s)
        with self._lock:
            job = self._jobs.get(key)
            if job is not None and not job.finished:
                return job
            job = self._jobs[key] = RenderJob(key)
            if is_rendered(key):
                job.finished = True
                return job
            self._pool.submit(self._render, job, practice, voice, duration_s)
        return job

    def _render(
        self, job: RenderJob, practice: Practice, voice: str, duration_s: float | None
    ) -> None:
        try:
            audio = session_files(job.key)[0]
            audio.parent.mkdir(parents=True, exist_ok=True)
            render_file(
                practice.source, audio, SESSION_FORMAT, voice, duration_s,
                progress=job.progress,
            )  # fmt: skip
            trim_sessions(job.key)
        except SelfkindError as err:
            job.error = str(err)
        except Exception as err:  # noqa: BLE001 - shown on the page, not lost in a thread
            job.error = f"the session could not be rendered ({err})"
        finally:
            job.finished = True

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
