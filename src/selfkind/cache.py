"""A content-addressed store of prepared speech clips.

A clip's key hashes everything that changes its sound: the text, the voice profile's sound
settings, the sample rate and the clip-preparation version. Edit one line of a script and
only that line's key is new. Entries are written to a temporary file in the same folder and
renamed into place, so two workers writing the same clip never leave a torn entry.

Both caches (clips here, decoded backgrounds in background.py) are bounded: :func:`trim`
removes the least recently used entries past a size. Using an entry sets its modification
time, which is what "recently" means (access times are not kept on most mounts).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import time
from collections.abc import Collection
from pathlib import Path

import numpy as np

from .files import remove_stale_parts, replacing, writing

CLIP_CACHE_BYTES = 1 << 30
"""Speech clips kept at most (about a thousand minutes of speech)."""
RECENT_S = 3600.0
"""An entry used this recently is never evicted: a render running beside may still read it."""

PREPARATION_VERSION = 12
"""Raise when clip preparation (text normalization included) changes, so old entries are
not reused."""


class ClipCache:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    @staticmethod
    def key(voice_identity: str, text: str, sample_rate_hz: int) -> str:
        material = f"{PREPARATION_VERSION}\0{voice_identity}\0{sample_rate_hz}\0{text}"
        return hashlib.sha256(material.encode("utf-8")).hexdigest()

    def path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.npy"

    def n_frames(self, key: str) -> int | None:
        """Length of a cached clip without reading its samples, or None if absent.
        Asking marks the clip as used."""
        path = self.path(key)
        try:
            n = int(np.load(path, mmap_mode="r").shape[0])
        except (FileNotFoundError, ValueError, OSError):
            return None
        touch(path)
        return n

    def load(self, key: str) -> np.ndarray:
        return np.load(self.path(key))

    def store(self, key: str, samples: np.ndarray) -> None:
        with writing(self.path(key)), replacing(self.path(key)) as temp, open(temp, "wb") as out:
            np.save(out, np.ascontiguousarray(samples, dtype=np.float32))

    def trim(self, max_bytes: int = CLIP_CACHE_BYTES) -> int:
        """Keep the clip cache under ``max_bytes``; returns how many clips were removed."""
        return trim(self.root, max_bytes, "*/*.npy")


def touch(path: Path) -> None:
    """Mark a cache entry as just used."""
    with contextlib.suppress(OSError):
        os.utime(path)


def trim(
    root: Path,
    max_bytes: int,
    pattern: str,
    keep: Collection[Path] = (),
    recent_s: float = RECENT_S,
) -> int:
    """Remove the least recently used entries (files matching ``pattern`` under ``root``)
    until the rest fit in ``max_bytes``, and parts left by killed writers. Entries in
    ``keep`` or used within ``recent_s`` stay even past the bound. Returns how many went."""
    if not root.is_dir():
        return 0
    for folder in {root, *(p.parent for p in root.glob(pattern))}:
        remove_stale_parts(folder)
    entries = []
    for path in root.glob(pattern):
        with contextlib.suppress(FileNotFoundError):
            info = path.stat()
            entries.append((info.st_mtime, info.st_size, path))
    total = sum(size for _, size, _ in entries)
    now_s = time.time()
    kept = {Path(p) for p in keep}
    removed = 0
    for used_s, size, path in sorted(entries, key=lambda e: e[0]):
        if total <= max_bytes:
            break
        if path in kept or now_s - used_s < recent_s:
            continue
        path.unlink(missing_ok=True)
        total -= size
        removed += 1
    return removed
