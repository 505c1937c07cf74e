"""A real PulseAudio server with a null sink, for machines without a sound card.

Used by the test fixture and by scripts/bench.py. PortAudio reaches the server through
ALSA's pulse plugin; what is played into the sink can be recorded from its monitor.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

SINK = "selfkind_null"


def ensure_null_sink(runtime_dir: Path) -> bool:
    """Use the running server, or start one in ``runtime_dir``; make the null sink the
    default output. Returns whether a server was started here (stop it with stop_server)."""
    started = False
    if subprocess.run(["pactl", "info"], capture_output=True).returncode != 0:
        runtime_dir.mkdir(parents=True, exist_ok=True)
        runtime_dir.chmod(0o700)
        os.environ["XDG_RUNTIME_DIR"] = str(runtime_dir)
        subprocess.run(
            ["pulseaudio", "--daemonize=yes", "--exit-idle-time=-1", "-n",
             "--load=module-native-protocol-unix", "--load=module-always-sink"],
            check=True, capture_output=True,
        )  # fmt: skip
        started = True
    sinks = subprocess.run(["pactl", "list", "short", "sinks"], capture_output=True, text=True)
    if SINK not in sinks.stdout:
        subprocess.run(
            ["pactl", "load-module", "module-null-sink", f"sink_name={SINK}"],
            check=True, capture_output=True,
        )  # fmt: skip
    subprocess.run(["pactl", "set-default-sink", SINK], check=True)
    return started


def stop_server() -> None:
    subprocess.run(["pulseaudio", "--kill"], capture_output=True)
