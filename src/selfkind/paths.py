"""Where selfkind keeps things on disk, following the XDG conventions through platformdirs.

``SELFKIND_HOME`` puts everything (cache, data, config) under one folder, which the tests use
to keep each run apart from the user's own files.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP = "selfkind"


def _home() -> Path | None:
    value = os.environ.get("SELFKIND_HOME")
    return Path(value) if value else None


def user_cache_dir() -> Path:
    home = _home()
    return home / "cache" if home else Path(platformdirs.user_cache_dir(APP))


def user_config_dir() -> Path:
    home = _home()
    return home / "config" if home else Path(platformdirs.user_config_dir(APP))


def user_data_dir() -> Path:
    home = _home()
    return home / "data" if home else Path(platformdirs.user_data_dir(APP))


def user_voices_dir() -> Path:
    return user_config_dir() / "voices"


def clip_cache_dir() -> Path:
    return user_cache_dir() / "clips"


def sound_log_path() -> Path:
    """Where the sound libraries' own messages go while selfkind plays or listens (replaced
    each time), instead of the person's screen."""
    return user_cache_dir() / "sound.log"
