"""A content-addressed store of prepared speech clips.

A clip's key hashes everything that changes its sound: the text, the voice profile's sound
settings, the sample rate and the clip-preparation version. Edit one line of a script and
only that line's key is new. Entries are written to a temporary file in the same folder and
renamed into place, so two workers writing the same clip never leave a torn entry.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from .files import replacing

PREPARATION_VERSION = 11
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
        """Length of a cached clip without reading its samples, or None if absent."""
        try:
            return int(np.load(self.path(key), mmap_mode="r").shape[0])
        except (FileNotFoundError, ValueError, OSError):
            return None

    def load(self, key: str) -> np.ndarray:
        return np.load(self.path(key))

    def store(self, key: str, samples: np.ndarray) -> None:
        with replacing(self.path(key)) as temp, open(temp, "wb") as out:
            np.save(out, np.ascontiguousarray(samples, dtype=np.float32))
