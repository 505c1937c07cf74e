"""Speech-recognition models on this machine: list, install (from a zip, a folder, or an
explicit URL: the only code path in selfkind that may use the network), and remove.

Installed models live in the user data dir (``models/<name>``), where transcription finds
them. An install unpacks into a temporary folder beside the target and renames it into
place only once it is complete and valid.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import urllib.request
import zipfile
from collections.abc import Callable
from pathlib import Path

from .. import paths
from ..errors import ScriptError, SetupError

VOSK_MODEL_ENV = "SELFKIND_VOSK_MODEL"


_VOSK_REQUIRED = ("am/final.mdl", "conf/model.conf")


def check_vosk_model(path: Path) -> None:
    """Raise SetupError naming what a Vosk model folder lacks."""
    if not path.is_dir():
        raise SetupError(f"the Vosk model folder {path} does not exist")
    missing = [part for part in _VOSK_REQUIRED if not (path / part).is_file()]
    if missing:
        raise SetupError(
            f"{path} is not a complete Vosk model: missing {', '.join(missing)}"
            " (unpack the model's zip, or use: selfkind models install ZIP)"
        )


def models_dir() -> Path:
    return paths.user_data_dir() / "models"


def find_vosk_model(explicit: str | None = None) -> Path | None:
    """--model, then $SELFKIND_VOSK_MODEL, then the first model in the user data dir."""
    for given in (explicit, os.environ.get(VOSK_MODEL_ENV)):
        if given:
            path = Path(given).expanduser()
            check_vosk_model(path)
            return path
    folder = models_dir()
    if folder.is_dir():
        for candidate in sorted(folder.iterdir()):
            if all((candidate / part).is_file() for part in _VOSK_REQUIRED):
                return candidate
    return None


_CHUNK = 1 << 16


def installed() -> list[Path]:
    folder = models_dir()
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _download(url: str, target: Path, on_progress: Callable[[int, int], None]) -> None:
    """Fetch a URL the user named explicitly, reporting (bytes so far, total or 0)."""
    try:
        with urllib.request.urlopen(url, timeout=30) as response, target.open("wb") as out:  # noqa: S310
            total = int(response.headers.get("Content-Length") or 0)
            done = 0
            while chunk := response.read(_CHUNK):
                out.write(chunk)
                done += len(chunk)
                on_progress(done, total)
    except (OSError, ValueError) as err:
        raise SetupError(f"could not download {url}: {err}") from None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _model_root(unpacked: Path) -> Path:
    """The folder holding the model: the unpacked one, or its only subfolder (zips of Vosk
    models contain one top-level folder named after the model)."""
    entries = [p for p in unpacked.iterdir() if not p.name.startswith(".")]
    if len(entries) == 1 and entries[0].is_dir():
        return entries[0]
    return unpacked


def install(
    source: str,
    sha256: str | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Install a Vosk model from a zip, a folder, or a URL (downloaded, then checked)."""
    report = on_progress or (lambda _done, _total: None)
    folder = models_dir()
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder, prefix=".install-") as work:
        workdir = Path(work)
        if "://" in source:
            archive = workdir / "download.zip"
            _download(source, archive, report)
            name_hint = Path(source.split("?")[0]).stem
        else:
            archive = Path(source).expanduser()
            name_hint = archive.stem
            if not archive.exists():
                raise SetupError(f"{source}: no such file or folder")
        if sha256 and archive.is_file() and _sha256(archive) != sha256.lower():
            raise SetupError(f"{source}: the SHA-256 does not match; the file was not installed")
        unpacked = workdir / "unpacked"
        if archive.is_dir():
            shutil.copytree(archive, unpacked)
        else:
            try:
                with zipfile.ZipFile(archive) as bundle:
                    bundle.extractall(unpacked)
            except zipfile.BadZipFile:
                raise SetupError(f"{source}: not a zip file or a model folder") from None
        root = _model_root(unpacked)
        check_vosk_model(root)
        name = root.name if root is not unpacked else name_hint
        target = folder / name
        if target.exists():
            raise SetupError(f"a model called '{name}' is already installed (remove it first)")
        root.rename(target)
    return target


def remove(name: str) -> Path:
    target = models_dir() / name
    if not target.is_dir() or name.startswith(".") or "/" in name:
        known = ", ".join(p.name for p in installed()) or "none"
        raise ScriptError(name, 0, 0, f"no installed model by that name (installed: {known})")
    shutil.rmtree(target)
    return target
