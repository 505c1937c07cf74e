"""Speech for a script: every utterance synthesized once, prepared, and kept in the cache.

Preparation makes clips mix cleanly: resampled to the session rate, silence the engine adds
at either end trimmed (the timeline owns the pauses), leveled to one loudness so the voice
neither swells nor fades between utterances, and short fades at the edges so no clip starts
or stops with a click. Because every clip already sits at CLIP_LUFS, the master gain is known
before the first sample is mixed: a live player can stream a session in one pass.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from .cache import ClipCache
from .engines import (
    SpeechEngine,
    engine_loaded,
    engine_threads,
    open_engine,
    runs_in_one_process,
    share_cores,
)
from .errors import SynthesisError
from .levels import CLIP_LUFS, LOSSY_CEILING_DBTP, TARGET_LUFS
from .lifetime import end_with_parent
from .master import Limiter
from .normalize import normalize_for_speech
from .sentences import phrases
from .sounds import leveled
from .voices import VoiceProfile

SESSION_RATE_HZ = 22050
"""Every session is mixed at this rate: the native rate of espeak-ng and Piper's medium voices."""
TRIM_THRESHOLD_DB = -50.0
EDGE_KEEP_S = 0.02
FADE_S = 0.008
WORKER_SILENCE_S = 120.0
"""A worker that reports nothing for this long is taken to be stuck."""
CLIP_CEILING_DBTP = LOSSY_CEILING_DBTP - (TARGET_LUFS - CLIP_LUFS) - 0.5
"""Clip peaks stay about this far down, so after the master gain they are under every ceiling."""
_RELEVEL_ALLOWANCE_DB = 2.0
_CLIP_LOOKAHEAD_S = 0.003
_CLIP_HOLD_S = 0.01


@dataclass(frozen=True)
class SpokenClips:
    """Where each utterance's clip is and how long it is."""

    keys: dict[str, str]
    """Utterance text -> cache key."""
    n_frames: dict[str, int]
    """Utterance text -> clip length in frames at SESSION_RATE_HZ."""
    synthesized: int
    """How many clips had to be synthesized (the rest came from the cache)."""


def _level_and_limit(clip: np.ndarray) -> np.ndarray:
    """Bring a clip to CLIP_LUFS with its loudest peaks tamed.

    espeak-ng's plosives peak far above its average level. Limiting them here, once per clip
    and cached, leaves the master limiter less to do, so a session lands near its loudness
    target in a single pass. Limiting takes a little loudness away, which a second leveling
    gives back, lifting the peaks by as much again: so the clip is limited _RELEVEL_ALLOWANCE_DB
    under its ceiling. The limiter is quicker than the master's (3 ms ramps, 10 ms hold), so
    it takes single plosives down without pulling whole syllables with them.
    """
    clip = clip * np.float32(leveled(clip, SESSION_RATE_HZ, CLIP_LUFS))
    limiter = Limiter(
        SESSION_RATE_HZ,
        CLIP_CEILING_DBTP - _RELEVEL_ALLOWANCE_DB,
        lookahead_s=_CLIP_LOOKAHEAD_S,
        hold_s=_CLIP_HOLD_S,
    )
    clip = np.concatenate([limiter.process(clip), limiter.flush()])
    return clip * np.float32(leveled(clip, SESSION_RATE_HZ, CLIP_LUFS))


def prepare_clip(samples: np.ndarray, sample_rate_hz: int) -> np.ndarray:
    """Engine output -> a clip ready to mix (see the module docstring)."""
    clip = np.asarray(samples, dtype=np.float32)
    if sample_rate_hz != SESSION_RATE_HZ:
        from scipy.signal import resample_poly  # slow to import; only for other-rate engines

        divisor = np.gcd(sample_rate_hz, SESSION_RATE_HZ)
        clip = resample_poly(clip, SESSION_RATE_HZ // divisor, sample_rate_hz // divisor)
        clip = clip.astype(np.float32)
    threshold = 10 ** (TRIM_THRESHOLD_DB / 20)
    loud = np.flatnonzero(np.abs(clip) > threshold)
    if loud.size == 0:
        return np.zeros(round(0.1 * SESSION_RATE_HZ), dtype=np.float32)
    keep = round(EDGE_KEEP_S * SESSION_RATE_HZ)
    clip = clip[max(loud[0] - keep, 0) : loud[-1] + keep + 1].copy()
    clip = _level_and_limit(clip)
    fade = min(round(FADE_S * SESSION_RATE_HZ), clip.size // 2)
    if fade:
        ramp = np.sin(np.linspace(0, np.pi / 2, fade, dtype=np.float32)) ** 2
        clip[:fade] *= ramp
        clip[-fade:] *= ramp[::-1]
    return clip


def speak_sentence(engine: SpeechEngine, text: str, rest_s: float) -> np.ndarray:
    """One sentence as engine output at SESSION_RATE_HZ, each phrase spoken by itself with
    ``rest_s`` of silence between: engines run commas together, a listener needs the rest.

    Each phrase keeps its punctuation, so the engine still gives it a rising, open close.
    """
    parts = phrases(text) or [text]
    if len(parts) == 1 or rest_s <= 0:
        return _at_session_rate(engine.synthesize(normalize_for_speech(text)), engine)
    rest = np.zeros(round(rest_s * SESSION_RATE_HZ), dtype=np.float32)
    pieces: list[np.ndarray] = []
    for part in parts:
        spoken = _trimmed(_at_session_rate(engine.synthesize(normalize_for_speech(part)), engine))
        if spoken.size:
            pieces += [spoken, rest]
    return np.concatenate(pieces[:-1]) if pieces else np.zeros(0, dtype=np.float32)


def _at_session_rate(samples: np.ndarray, engine: SpeechEngine) -> np.ndarray:
    clip = np.asarray(samples, dtype=np.float32)
    if engine.sample_rate_hz == SESSION_RATE_HZ:
        return clip
    from scipy.signal import resample_poly  # slow to import; only for other-rate engines

    divisor = np.gcd(engine.sample_rate_hz, SESSION_RATE_HZ)
    clip = resample_poly(clip, SESSION_RATE_HZ // divisor, engine.sample_rate_hz // divisor)
    return clip.astype(np.float32)


def _trimmed(clip: np.ndarray) -> np.ndarray:
    """The engine's silence at either end cut to EDGE_KEEP_S."""
    loud = np.flatnonzero(np.abs(clip) > 10 ** (TRIM_THRESHOLD_DB / 20))
    if loud.size == 0:
        return clip[:0]
    keep = round(EDGE_KEEP_S * SESSION_RATE_HZ)
    return clip[max(loud[0] - keep, 0) : loud[-1] + keep + 1]


def _synthesize_into(
    profile: VoiceProfile, texts: Sequence[str], cache: ClipCache, report: Callable[[], None]
) -> None:
    engine = open_engine(profile)
    identity = profile.cache_identity()
    for text in texts:
        clip = prepare_clip(speak_sentence(engine, text, profile.rest_s), SESSION_RATE_HZ)
        cache.store(ClipCache.key(identity, text, SESSION_RATE_HZ), clip)
        report()
    # An engine that keeps scratch memory between sentences (Piper's arena) gives it back
    # before the session is mixed; the model itself stays loaded for the next script.
    free_scratch = getattr(engine, "free_scratch", None)
    if free_scratch is not None:
        free_scratch()


def _worker(profile: VoiceProfile, texts: list[str], root: str, progress, cores: int) -> None:  # noqa: ANN001
    end_with_parent()  # a render killed with -9 takes its synthesis with it
    share_cores(cores)  # workers side by side: each its part of the machine
    # stdout is the user's: a worker never writes to it.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    try:
        _synthesize_into(profile, texts, ClipCache(root), lambda: progress.put(1))
    except BaseException as err:  # noqa: BLE001 - sent to the parent, which raises it
        progress.put(err)
        return
    progress.put(None)


def synthesize_script(
    texts: Sequence[str],
    profile: VoiceProfile,
    cache: ClipCache,
    jobs: int = 1,
    on_clip: Callable[[], None] | None = None,
) -> SpokenClips:
    """Make sure every text has a cached clip; synthesize the missing ones.

    With ``jobs > 1`` the missing texts are split into contiguous slices, one per worker
    process, each synthesized in order, so the work and its result are the same every run.
    """
    identity = profile.cache_identity()
    keys = {text: ClipCache.key(identity, text, SESSION_RATE_HZ) for text in texts}
    missing = [text for text in keys if cache.n_frames(keys[text]) is None]
    report = on_clip or (lambda: None)
    workers = max(1, min(jobs, len(missing) // 4))
    # A fork of a process whose engine is already running inherits its locks and threads
    # half-alive and hangs on the first clip; such a process synthesizes by itself, as does
    # an engine that uses every core from one process.
    if engine_loaded() or runs_in_one_process(profile):
        workers = 1
    if workers == 1:
        if missing:
            _synthesize_into(profile, missing, cache, report)
    else:
        _synthesize_in_workers(profile, missing, cache, workers, report)
    lengths = {}
    for text, key in keys.items():
        n = cache.n_frames(key)
        if n is None:
            raise RuntimeError(f"clip missing from the cache after synthesis: {text[:60]!r}")
        lengths[text] = n
    return SpokenClips(keys=keys, n_frames=lengths, synthesized=len(missing))


def _synthesize_in_workers(
    profile: VoiceProfile,
    missing: list[str],
    cache: ClipCache,
    workers: int,
    report: Callable[[], None],
) -> None:
    context = multiprocessing.get_context("fork")
    progress = context.Queue()
    bounds = np.linspace(0, len(missing), workers + 1).round().astype(int)
    cores = max(1, engine_threads() // workers)
    processes = [
        context.Process(
            target=_worker,
            args=(profile, missing[bounds[i] : bounds[i + 1]], str(cache.root), progress, cores),
            daemon=True,
        )
        for i in range(workers)
    ]
    for process in processes:
        process.start()
    running = workers
    last_news = time.monotonic()
    try:
        while running:
            try:
                message = progress.get(timeout=1.0)
            except queue.Empty:
                dead = [p for p in processes if p.exitcode not in (None, 0)]
                if dead:
                    raise SynthesisError(
                        f"a synthesis worker stopped unexpectedly (exit code {dead[0].exitcode})"
                    ) from None
                if time.monotonic() - last_news > WORKER_SILENCE_S:
                    raise SynthesisError(
                        f"speech synthesis made no progress for {WORKER_SILENCE_S:.0f}s"
                    ) from None
                continue
            last_news = time.monotonic()
            if message is None:
                running -= 1
            elif isinstance(message, BaseException):
                raise message
            else:
                report()
    finally:
        for process in processes:
            if process.is_alive():
                process.terminate()
            process.join()


class CachedClips:
    """Reads a session's clips back from the cache, keeping the few most recent in memory."""

    def __init__(self, cache: ClipCache, spoken: SpokenClips, keep: int = 4) -> None:
        self.cache = cache
        self.spoken = spoken
        self.keep = keep
        self._recent: dict[str, np.ndarray] = {}

    def clip(self, text: str) -> np.ndarray:
        found = self._recent.pop(text, None)
        if found is None:
            found = self.cache.load(self.spoken.keys[text])
        self._recent[text] = found
        while len(self._recent) > self.keep:
            self._recent.pop(next(iter(self._recent)))
        return found
