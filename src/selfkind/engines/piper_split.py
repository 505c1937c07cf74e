"""A Piper model cut in two, so its decoder can speak a long sentence a window at a time.

Where the memory goes: a Piper (VITS) model is a text encoder, a duration predictor and a
flow, which work on about 86 frames a second of speech and hold the weights (56 of the
joe model's 63 MB), then a HiFi-GAN decoder, which turns each frame into 256 samples. The
decoder's activations, held in onnxruntime's arena, cost about 20 MB per second of audio
in one call: a 10-second sentence at the natural voice's slow pace took 200 MB on top of
the model. The decoder is convolutions only, so an output sample depends on a few frames
either side of it (its receptive field: at most 16 frames, measured). Decoded in windows
with DECODER_MARGIN_FRAMES of context either side, each window's middle kept, the audio
is bit-identical to one call over the whole sentence (tests/test_piper_memory.py), and
the arena never grows past one window's worth.

The cut is made once per model with the ``onnx`` package and kept in the cache folder:
``encoder.onnx`` (everything up to the decoder's input, its weights in ``encoder.weights``)
and ``decoder.onnx``. Without ``onnx``, or for a model whose decoder cannot be found, the
whole model is used as before, and a warning under the ``selfkind`` logger says why, once
per model file (the command line prints it as one line on stderr).

The pieces are about as large as the model (62 MB for joe), so they do not outlive it:
:func:`remove_stale_cuts`, run where the clip cache is trimmed, removes the cut (or the
"runs whole" marker) of a model file no longer installed or changed since it was cut.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from ..files import PART_SUFFIX, is_stale_part
from ..paths import user_cache_dir

DECODER_MAX_FRAMES = 256
"""Most frames the decoder is given in one call (3 s of audio; 256 samples a frame at
22050 Hz). Activations held, over the loaded model: 192 frames +52 MB, 256 +60 MB, 320
+86 MB, 576 +163 MB."""
DECODER_MARGIN_FRAMES = 32
"""Context decoded either side of a window and then dropped: twice the smallest margin
that gave bit-identical audio (16)."""
WEIGHTS_NAME = "encoder.weights"
"""The encoder's weights, beside ``encoder.onnx``, which names this file."""
SPLIT_VERSION = 2
"""Raise when the way the model is cut changes, so old cuts are made again."""
UNCUTTABLE_SUFFIX = ".whole"
"""Beside a model's cut folder: its graph is not one we know how to cut, so every render
runs the whole model rather than trying the cut (a process, 0.4 s, 170 MB) again."""
EXIT_UNCUTTABLE = 3
_DECODER_PREFIX = "/dec/"
"""Piper's exported graphs name the decoder's nodes after its PyTorch module, ``dec``."""
_log = logging.getLogger(__name__)
_said: set[Path] = set()
"""Models this process has already said it runs whole (a failure not remembered on disk,
such as a missing ``onnx``, is tried again by each process, and said once by each)."""


CUT_RECENT_S = 3600.0
"""A cut (or marker) used this recently stays even when its model is gone: a process that
has just found it may be about to load it."""


def cuts_dir() -> Path:
    """Every model's cut, each in a folder named by :func:`split_folder`."""
    return user_cache_dir() / "piper"


def split_folder(model_path: Path) -> Path:
    """Where the cut of one model file lives; a changed model file gets a new folder."""
    info = model_path.stat()
    material = f"{SPLIT_VERSION}\0{model_path.resolve()}\0{info.st_size}\0{info.st_mtime_ns}"
    return cuts_dir() / hashlib.sha256(material.encode()).hexdigest()[:16]


def remove_stale_cuts(installed: Iterable[Path], recent_s: float = CUT_RECENT_S) -> int:
    """Remove the cuts and "runs whole" markers of every model file but ``installed`` (the
    folder names hash the model's path, size and time, so a changed file's old cut goes
    too), and half-made cuts whose cutting process is gone. One used within ``recent_s``
    stays. Returns how many went."""
    root = cuts_dir()
    if not root.is_dir():
        return 0
    kept = set()
    for model_path in installed:
        try:
            kept.add(split_folder(model_path).name)
        except OSError:  # removed since it was listed: its cut goes too
            continue
    now_s = time.time()
    removed = 0
    for entry in root.iterdir():
        if entry.name.endswith(PART_SUFFIX):
            stale = is_stale_part(entry)
        else:
            try:
                used_s = entry.stat().st_mtime
            except FileNotFoundError:
                continue
            stale = (
                entry.name.removesuffix(UNCUTTABLE_SUFFIX) not in kept
                and now_s - used_s >= recent_s
            )
        if not stale:
            continue
        try:
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink(missing_ok=True)
        except OSError:  # trimmed by another process, or not ours to remove: housekeeping
            continue  # never fails a render, and a later trim tries again
        removed += 1
    return removed


def split_model(model_path: Path) -> tuple[Path, Path] | None:
    """The encoder and decoder files for a model, cut now if they are not cached yet.

    The cut runs in a process of its own: it holds the model's graph twice for a moment
    (about 170 MB), which would otherwise stay on this process's peak and, freed, leave
    its heap larger. None when the cut cannot be made here (no ``onnx`` package, a graph
    without a decoder of the expected shape, a cache folder that cannot be written): the
    caller then runs the whole model in one piece, which gives the same audio, only with
    more memory, and a warning says why: once per model file when the graph cannot be cut
    (remembered on disk), else once per process.
    """
    folder = split_folder(model_path)
    encoder, decoder = folder / "encoder.onnx", folder / "decoder.onnx"
    uncuttable = folder.with_name(folder.name + UNCUTTABLE_SUFFIX)
    if not encoder.is_file() and not uncuttable.exists():
        reason = _cut_in_child(model_path, folder, uncuttable)
        if reason is not None and model_path not in _said:
            _said.add(model_path)
            _log.warning(
                "the Piper model %s runs whole (%s): the same voice, with about twice the"
                " memory for a long sentence",
                model_path,
                reason,
            )
    if encoder.is_file():  # marks the cut as used (see remove_stale_cuts)
        with contextlib.suppress(OSError):
            os.utime(folder)
    return (encoder, decoder) if encoder.is_file() and decoder.is_file() else None


def _cut_in_child(model_path: Path, folder: Path, uncuttable: Path) -> str | None:
    """Cut the model in a child process; why it could not be, or None when it was (or when
    the failure was already said: another process marked the model first)."""
    if importlib.util.find_spec("onnx") is None:
        return "the onnx package that cuts it is not installed: pip install 'selfkind[neural]'"
    cut = subprocess.run(
        [sys.executable, "-m", __name__, str(model_path), str(folder)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        check=False,
    )
    if cut.returncode == 0:
        return None
    if cut.returncode != EXIT_UNCUTTABLE:  # tried again next time: it may be the disk
        lines = cut.stderr.decode("utf-8", "replace").strip().splitlines()
        return f"cutting it failed: {lines[-1] if lines else f'exit status {cut.returncode}'}"
    # Not tried again for this model file, and said by the process that finds it out.
    try:
        uncuttable.parent.mkdir(parents=True, exist_ok=True)
        uncuttable.open("x").close()
    except FileExistsError:
        return None
    except OSError:  # not remembered, so tried (and said) again by the next process
        pass
    return "its graph is not one selfkind knows how to cut in two"


def cut_model(model_path: Path, folder: Path) -> bool:
    """Write ``folder`` with the encoder and decoder of a model; False when the graph is
    not one we know how to cut.

    Written in a folder of its own and renamed into place whole, so a reader never finds
    half a cut, and two processes cutting at once each finish their own.
    """
    import onnx

    model = onnx.load(str(model_path))
    decoder_model = _cut(model)
    if decoder_model is None:
        return False
    folder.parent.mkdir(parents=True, exist_ok=True)
    temp = Path(
        tempfile.mkdtemp(
            dir=folder.parent, prefix=f".{folder.name}.{os.getpid()}.", suffix=PART_SUFFIX
        )
    )
    try:
        onnx.save(decoder_model, str(temp / "decoder.onnx"))
        del decoder_model
        # The weights in a file of their own, which onnxruntime maps instead of copying:
        # 57 MB less to hold while loading, and none of it serialized here in one piece.
        onnx.save(
            model,
            str(temp / "encoder.onnx"),
            save_as_external_data=True,
            all_tensors_to_one_file=True,
            location=WEIGHTS_NAME,
            size_threshold=1024,
        )
        del model
        try:
            os.rename(temp, folder)
        except OSError:
            if not (folder / "encoder.onnx").is_file():  # not another process's cut
                raise
    finally:
        shutil.rmtree(temp, ignore_errors=True)
    return True


def _cut(model: object) -> object | None:
    """Make ``model`` (an onnx ModelProto) the encoder, in place, and return the decoder
    as a new model; None, with ``model`` untouched, when the graph is not one we know.

    In place because the weights are most of the file: a copy of the encoder would hold
    them twice while it is written."""
    from onnx import TensorProto, helper

    graph = model.graph  # type: ignore[attr-defined]
    if len(graph.output) != 1:
        return None
    first = next((node for node in graph.node if node.name.startswith(_DECODER_PREFIX)), None)
    if first is None or first.op_type != "Conv":
        return None
    frames_name = first.input[0]
    producers = {name: index for index, node in enumerate(graph.node) for name in node.output}
    initializers = {init.name: init for init in graph.initializer}
    weights = initializers.get(first.input[1])
    if weights is None or len(weights.dims) != 3:
        return None
    n_channels = int(weights.dims[1])
    decoder_nodes: set[int] = set()
    wanted = [graph.output[0].name]
    while wanted:
        name = wanted.pop()
        if name in ("", frames_name) or name in initializers:
            continue
        index = producers.get(name)
        if index is None:  # a graph input: the decoder needs more than the frames
            return None
        if index not in decoder_nodes:
            decoder_nodes.add(index)
            wanted.extend(graph.node[index].input)
    decoder_outputs = {name for index in decoder_nodes for name in graph.node[index].output}
    encoder_inputs = {
        name
        for index, node in enumerate(graph.node)
        if index not in decoder_nodes
        for name in node.input
    }
    if decoder_outputs & encoder_inputs:
        return None
    decoder_inputs = {name for index in decoder_nodes for name in graph.node[index].input}
    frames = helper.make_tensor_value_info(
        frames_name, TensorProto.FLOAT, [1, n_channels, "frames"]
    )
    decoder_graph = helper.make_graph(
        [graph.node[index] for index in sorted(decoder_nodes)],
        "piper-decoder",
        [frames],
        [graph.output[0]],
        [init for init in graph.initializer if init.name in decoder_inputs],
    )
    decoder = helper.make_model(
        decoder_graph,
        opset_imports=model.opset_import,
        ir_version=model.ir_version,  # type: ignore[attr-defined]
    )
    for index in sorted(decoder_nodes, reverse=True):
        del graph.node[index]
    for index in reversed(range(len(graph.initializer))):
        if graph.initializer[index].name not in encoder_inputs:
            del graph.initializer[index]
    del graph.output[:]
    graph.output.append(frames)
    return decoder


def decoder_windows(n_frames: int) -> list[tuple[int, int, int, int]]:
    """How to decode ``n_frames``: (start, end, low, high) per call, where frames
    ``low:high`` are decoded and the audio of ``start:end`` kept. One call for the whole
    when it fits in DECODER_MAX_FRAMES; otherwise as few windows of equal kept length as
    fit, each with DECODER_MARGIN_FRAMES of context on its inner sides."""
    if n_frames <= DECODER_MAX_FRAMES:
        return [(0, n_frames, 0, n_frames)]
    n_windows = 2
    while True:
        kept = -(-n_frames // n_windows)
        margins = 1 if n_windows == 2 else 2  # the first and last have context on one side
        if kept + margins * DECODER_MARGIN_FRAMES <= DECODER_MAX_FRAMES:
            break
        n_windows += 1
    windows = []
    for start in range(0, n_frames, kept):
        end = min(start + kept, n_frames)
        low = max(0, start - DECODER_MARGIN_FRAMES)
        windows.append((start, end, low, min(n_frames, end + DECODER_MARGIN_FRAMES)))
    return windows


class WindowedSession:
    """Stands in for Piper's one onnxruntime session: ``run`` gives the same audio, made by
    the encoder once and the decoder a window at a time (see the module docstring)."""

    def __init__(self, encoder: object, decoder: object) -> None:
        self.encoder = encoder
        self.decoder = decoder
        frames = decoder.get_inputs()[0]  # type: ignore[attr-defined]
        self._frames_name = frames.name
        self._channels = int(frames.shape[1])

    def run(self, output_names: object, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        frames = self.encoder.run(None, feeds)[0]  # type: ignore[attr-defined]
        return [self.decode(frames)]

    def decode(self, frames: np.ndarray) -> np.ndarray:
        """Audio for ``frames`` (1 x channels x n), shaped as the whole model returns it."""
        n_frames = frames.shape[2]
        windows = decoder_windows(n_frames)
        if len(windows) == 1:
            return self._decode(frames)
        pieces = []
        for start, end, low, high in windows:
            audio = self._decode(np.ascontiguousarray(frames[:, :, low:high]))
            samples_per_frame = audio.shape[-1] // (high - low)
            pieces.append(
                audio[..., (start - low) * samples_per_frame : (end - low) * samples_per_frame]
            )
        return np.concatenate(pieces, axis=-1)

    def free_scratch(self) -> None:
        """Hand the decoder's activations (about 50 MB, kept by onnxruntime's arena for the
        next sentence) back to the system: a render mixes after its last sentence, and
        would otherwise mix on top of them. A one-frame run with the arena told to shrink
        afterwards; the decoder draws no random numbers, so later audio is unchanged."""
        import onnxruntime

        options = onnxruntime.RunOptions()
        options.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")
        silence = np.zeros((1, self._channels, 1), dtype=np.float32)
        self.decoder.run(None, {self._frames_name: silence}, options)  # type: ignore[attr-defined]

    def _decode(self, frames: np.ndarray) -> np.ndarray:
        return self.decoder.run(None, {self._frames_name: frames})[0]  # type: ignore[attr-defined]


if __name__ == "__main__":
    # python -m selfkind.engines.piper_split MODEL FOLDER: what split_model runs.
    sys.exit(0 if cut_model(Path(sys.argv[1]), Path(sys.argv[2])) else EXIT_UNCUTTABLE)
