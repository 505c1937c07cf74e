"""The sound card, through PortAudio (sounddevice): the only module that touches it."""

from __future__ import annotations

import numpy as np

from .errors import SetupError


def _sounddevice():  # noqa: ANN202 - the module, imported late: PortAudio may be missing
    try:
        import sounddevice
    except OSError:
        raise SetupError(
            "PortAudio is missing; install it with: apt-get install libportaudio2"
        ) from None
    return sounddevice


def list_devices() -> list[dict]:
    """Every device PortAudio sees, with which defaults it is ('input', 'output')."""
    sd = _sounddevice()
    default_in, default_out = sd.default.device
    devices = []
    for index, device in enumerate(sd.query_devices()):
        entry = dict(device)
        entry["index"] = index
        entry["default_for"] = [
            role for role, number in (("input", default_in), ("output", default_out))
            if number == index
        ]  # fmt: skip
        devices.append(entry)
    return devices


def play(samples: np.ndarray, sample_rate_hz: int, device: str | int | None = None) -> None:
    """Play mono samples to the end; raises SetupError when there is nowhere to play them."""
    sd = _sounddevice()
    try:
        sd.play(np.asarray(samples, dtype=np.float32), sample_rate_hz, device=device)
        sd.wait()
    except (sd.PortAudioError, ValueError) as err:
        raise SetupError(
            f"no sound output device to play on ({err}); write a file instead with -o FILE"
        ) from None
