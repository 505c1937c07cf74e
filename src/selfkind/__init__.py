"""selfkind: offline, voice-guided self-compassion practice."""

import os

# onnxruntime (Piper's voice, Silero's voice detection) reports to Microsoft on Linux since
# 1.29: importing it writes a device id and an event store under ~/.cache/Microsoft and
# queues them for upload. Nothing of a person's practice leaves the machine, so it is off,
# set here before any module can import onnxruntime, and inherited by every process we
# start (recognizers, synthesis and batch workers, the Piper cutter).
os.environ["ORT_DISABLE_TELEMETRY"] = "1"

__version__ = "0.1.0"
