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


def output_devices() -> list[dict[str, object]]:
    sd = _sounddevice()
    return [d for d in sd.query_devices() if d["max_output_channels"] > 0]


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
