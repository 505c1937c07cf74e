"""Silero VAD, streaming: a small neural network that tells speech from everything else.

An energy gate hears any sound louder than the room as speech: a fan switched on, the
session's own noise bed leaking from the speakers, a knock. Silero was trained to tell
voices apart from such sounds, and it is level-blind enough to hear someone speaking
softly. Its ONNX file ships inside faster-whisper (``faster_whisper/assets``), so it is
here exactly when Whisper is; onnxruntime, which runs it, comes with faster-whisper too.

How the network is fed (version 6, as faster-whisper ships it), the traps in one place:

- 16 kHz mono float32 only, in windows of exactly 512 samples (32 ms).
- Each window goes in with the 64 samples that came before it (its context): an input row
  is 576 samples. The first window's context is silence.
- It is recurrent: an LSTM state ``h`` and ``c``, each (1, 1, 128), goes in with every call
  and comes back updated. Rows of one call are consecutive windows in time (the first axis
  is a sequence, not a batch), so a block of several windows is one call and the state
  carries over to the next block. A new stream starts from zeros.
- One probability (0..1) comes out per window.

On top of the probabilities, :class:`SileroVoiceActivity` decides what the listener needs:
when the person started speaking, when they have finished (a long quiet), and where the
pauses between phrases are, so a recognizer can transcribe each phrase as it ends.
"""

from __future__ import annotations

import functools
import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import SetupError

SAMPLE_RATE_HZ = 16000
"""The only rate the network takes."""
WINDOW_FRAMES = 512
CONTEXT_FRAMES = 64
WINDOW_S = WINDOW_FRAMES / SAMPLE_RATE_HZ
_STATE_SHAPE = (1, 1, 128)

SPEECH_THRESHOLD = 0.5
"""A window this likely to be speech starts (or continues) speech..."""
KEEP_THRESHOLD = 0.3
"""...and, once speech is going, one above this keeps it going (soft word endings)."""
MIN_SPEECH_S = 0.25
"""Speech counts once this much of it came in one run: a knock or a click is shorter."""
RUN_GAP_S = 0.1
"""A dip this short between voiced windows does not break a run."""
END_SILENCE_S = 3.0
"""After speech, this much quiet means the speaker has finished."""
PHRASE_PAUSE_S = 1.5
"""A pause this long ends a phrase (a unit a recognizer can transcribe on its own). Whisper
writes better with more context: cut at every 0.6 s pause it made 11 % errors on the human
fixtures, at 1.5 s pauses 6 %, and fewer phrases cost fewer fixed-price hearings. A phrase
still ends well before the listener's 3 s end of speech, leaving time to transcribe it."""
MAX_PHRASE_S = 20.0
"""A phrase never grows past this (Whisper hears 30 s at a time); it is cut at its quietest
moment in the last half."""


def model_path() -> Path | None:
    """Where faster-whisper keeps the Silero model, or None when it is not installed.

    Found without importing faster-whisper (the listener needs only this file).
    """
    spec = importlib.util.find_spec("faster_whisper")
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        path = Path(folder) / "assets" / "silero_vad_v6.onnx"
        if path.is_file():
            return path
    return None


def available() -> bool:
    """True when the model and onnxruntime are both installed."""
    return model_path() is not None and importlib.util.find_spec("onnxruntime") is not None


@functools.cache
def _session(path: Path) -> object:
    """One inference session per process: loading takes ~30 ms, running a window ~0.1 ms."""
    try:
        import onnxruntime
    except ImportError:
        raise SetupError("onnxruntime is not installed: pip install 'selfkind[whisper]'") from None
    options = onnxruntime.SessionOptions()
    # One thread: the guide's audio and a recognizer need the other core more than this
    # tiny network needs two.
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.log_severity_level = 4
    return onnxruntime.InferenceSession(
        str(path), sess_options=options, providers=["CPUExecutionProvider"]
    )


class SpeechProbability:
    """A stream of 16 kHz float32 samples in, one speech probability per 32 ms window out.

    Samples that do not fill a window yet wait for the next :meth:`feed`.
    """

    def __init__(self, path: Path | None = None) -> None:
        path = path or model_path()
        if path is None:
            raise SetupError(
                "the Silero voice detector comes with faster-whisper:"
                " pip install 'selfkind[whisper]'"
            )
        self._session = _session(path)
        self._h = np.zeros(_STATE_SHAPE, np.float32)
        self._c = np.zeros(_STATE_SHAPE, np.float32)
        self._context = np.zeros(CONTEXT_FRAMES, np.float32)
        self._waiting = np.zeros(0, np.float32)

    def feed(self, samples: np.ndarray) -> np.ndarray:
        """Probabilities (float32) of the windows completed by ``samples``, oldest first."""
        samples = np.concatenate([self._waiting, np.asarray(samples, np.float32).ravel()])
        n_windows = samples.size // WINDOW_FRAMES
        self._waiting = samples[n_windows * WINDOW_FRAMES :]
        if n_windows == 0:
            return np.zeros(0, np.float32)
        windows = samples[: n_windows * WINDOW_FRAMES].reshape(n_windows, WINDOW_FRAMES)
        contexts = np.empty((n_windows, CONTEXT_FRAMES), np.float32)
        contexts[0] = self._context
        contexts[1:] = windows[:-1, -CONTEXT_FRAMES:]
        rows = np.ascontiguousarray(np.concatenate([contexts, windows], axis=1))
        probabilities, self._h, self._c = self._session.run(  # type: ignore[attr-defined]
            None, {"input": rows, "h": self._h, "c": self._c}
        )
        self._context = windows[-1, -CONTEXT_FRAMES:].copy()
        return np.asarray(probabilities, np.float32).reshape(n_windows)


@dataclass(frozen=True)
class Phrase:
    """Speech between two pauses, in seconds from the start of the stream."""

    start_s: float
    """Start of its first voiced window."""
    end_s: float
    """End of its last voiced window (padding, if wanted, is the caller's)."""


class SileroVoiceActivity:
    """Decides, block by block, when someone has spoken and then finished, and where the
    phrases in between begin and end.

    A drop-in for the energy gate (``feed`` returns True once the speaker has finished;
    ``heard_speech``, ``speech_s`` and ``quiet_s`` mean the same, and a caller may set
    ``quiet_s`` to 0 to hold the end back, as a paused session does). Times are seconds
    from the first sample fed.
    """

    def __init__(
        self,
        end_silence_s: float = END_SILENCE_S,
        *,
        phrase_pause_s: float = PHRASE_PAUSE_S,
        max_phrase_s: float = MAX_PHRASE_S,
        min_speech_s: float = MIN_SPEECH_S,
        path: Path | None = None,
    ) -> None:
        self.end_silence_s = end_silence_s
        self.phrase_pause_s = phrase_pause_s
        self.max_phrase_s = max_phrase_s
        self.min_speech_s = min_speech_s
        self._probability = SpeechProbability(path)
        self.elapsed_s = 0.0
        """Stream time judged so far (whole windows only)."""
        self.speech_s = 0.0
        """Speech heard in runs long enough to count."""
        self.quiet_s = 0.0
        """Time since the last speech (counted only once speech was heard)."""
        self.start_s: float | None = None
        """When the first speech that counted began."""
        self.end_s: float | None = None
        """When the latest speech that counted ended."""
        self._run_start_s: float | None = None
        self._run_voiced_s = 0.0
        self._run_gap_s = 0.0
        self._run_counted = False
        self._phrase_start_s: float | None = None
        self._phrase_windows: list[tuple[float, float]] = []
        self._phrases: list[Phrase] = []

    @property
    def heard_speech(self) -> bool:
        return self.start_s is not None

    @property
    def phrase_start_s(self) -> float | None:
        """Start of the phrase being spoken now, or None between phrases."""
        return self._phrase_start_s

    @property
    def undecided_from_s(self) -> float:
        """The earliest time that may still become part of a phrase: audio before it can be
        let go (the start of the phrase in progress, or of a run not yet long enough to
        count, or now)."""
        for start_s in (self._phrase_start_s, self._run_start_s):
            if start_s is not None:
                return start_s
        return self.elapsed_s

    def feed(self, block: np.ndarray, sample_rate_hz: int = SAMPLE_RATE_HZ) -> bool:
        """Take float32 samples; True once the speaker has spoken and then been quiet."""
        if sample_rate_hz != SAMPLE_RATE_HZ:
            raise ValueError(f"Silero VAD takes {SAMPLE_RATE_HZ} Hz audio, not {sample_rate_hz}")
        for probability in self._probability.feed(block):
            self._judge(float(probability))
        return self.finished

    @property
    def finished(self) -> bool:
        return self.heard_speech and self.quiet_s >= self.end_silence_s

    def take_phrases(self) -> list[Phrase]:
        """Phrases that ended since the last call."""
        phrases, self._phrases = self._phrases, []
        return phrases

    def close(self) -> list[Phrase]:
        """The stream has ended: the phrase being spoken ends where its speech did."""
        if self._phrase_start_s is not None:
            assert self.end_s is not None
            self._end_phrase(self.end_s)
        return self.take_phrases()

    def _judge(self, probability: float) -> None:
        window_start_s = self.elapsed_s
        self.elapsed_s += WINDOW_S
        in_run = self._run_start_s is not None
        voiced = probability >= SPEECH_THRESHOLD or (in_run and probability >= KEEP_THRESHOLD)
        if voiced:
            if self._run_start_s is None:
                self._run_start_s = window_start_s
                self._run_voiced_s = 0.0
                self._run_counted = False
            self._run_voiced_s += WINDOW_S
            self._run_gap_s = 0.0
            if not self._run_counted and self._run_voiced_s >= self.min_speech_s - 1e-9:
                self._run_counted = True
                self.speech_s += self._run_voiced_s - WINDOW_S
                if self.start_s is None:
                    self.start_s = self._run_start_s
                if self._phrase_start_s is None:
                    self._phrase_start_s = self._run_start_s
            if self._run_counted:
                self.speech_s += WINDOW_S
                self.quiet_s = 0.0
                self.end_s = self.elapsed_s
        elif in_run:
            self._run_gap_s += WINDOW_S
            if self._run_gap_s > RUN_GAP_S + 1e-9:
                self._run_start_s = None  # a run too short to count is forgotten
        if self.heard_speech and not (voiced and self._run_counted):
            self.quiet_s += WINDOW_S
        if self._phrase_start_s is not None:
            self._phrase_windows.append((window_start_s, probability))
            assert self.end_s is not None
            if self.elapsed_s - self.end_s >= self.phrase_pause_s - 1e-9:
                self._end_phrase(self.end_s)
            elif self.elapsed_s - self._phrase_start_s >= self.max_phrase_s:
                self._cut_long_phrase()

    def _end_phrase(self, end_s: float) -> None:
        assert self._phrase_start_s is not None
        self._phrases.append(Phrase(self._phrase_start_s, end_s))
        self._phrase_start_s = None
        self._phrase_windows = []

    def _cut_long_phrase(self) -> None:
        """Someone speaking on without a pause: end the phrase at the least speech-like
        window of its second half, and go on with a new one from there."""
        half = len(self._phrase_windows) // 2
        cut_s, _ = min(self._phrase_windows[half:], key=lambda item: item[1])
        assert self._phrase_start_s is not None
        self._phrases.append(Phrase(self._phrase_start_s, cut_s))
        self._phrase_windows = [item for item in self._phrase_windows if item[0] >= cut_s]
        self._phrase_start_s = cut_s
