"""Silero voice activity on real people's speech, alone and in the noises of a real room.

A reflection is built from the human fixtures: four utterances with thoughtful pauses of
2.0, 1.5 and 2.5 s between them, then quiet. Where speech truly starts and ends is measured
on the clean recording (10 ms frames within 20 dB of its loud frames); the detector, fed
0.1 s blocks as the microphone gives them, must put both within 0.3 s of those marks, must
not end the reflection in a pause, must end it 3 s after the last word, and must never open
on noise alone: a fan, traffic hum, the session's own brown-noise bed, a knock.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
from scipy.signal import lfilter

pytest.importorskip("onnxruntime")
from selfkind.listen import silero  # noqa: E402
from selfkind.listen.silero import SileroVoiceActivity  # noqa: E402
from selfkind.sounds import noise_loop  # noqa: E402

from .speech import FIXTURES, decode_16k  # noqa: E402

pytestmark = pytest.mark.skipif(not silero.available(), reason="faster-whisper not installed")

RATE_HZ = 16000
BLOCK_S = 0.1
TOLERANCE_S = 0.3
END_SILENCE_S = 3.0
SPEECH_DBFS = -20.0
"""Level of a speaker's loud 10 ms frames (their 95th percentile) at a normal distance."""
CLIPS = ("goforward.wav", "cards-005.wav", "cards-002.wav", "cards-003.wav")
PAUSES_S = (2.0, 1.5, 2.5)
"""Thoughtful pauses between the utterances, shorter than the 3 s end of speech."""
LEAD_S = 1.0
TAIL_S = 5.0


def _frame_db(samples: np.ndarray, frame: int = RATE_HZ // 100) -> np.ndarray:
    n = samples.size // frame
    frames = samples[: n * frame].reshape(n, frame).astype(np.float64)
    return 10 * np.log10(np.mean(frames**2, axis=1) + 1e-12)


def _speech_marks(clean: np.ndarray) -> tuple[float, float]:
    """Start and end of speech in a clean recording: first and last 10 ms frame within
    20 dB of its loud frames."""
    level_db = _frame_db(clean)
    loud = np.nonzero(level_db > np.percentile(level_db, 95) - 20)[0]
    return loud[0] * 0.01, (loud[-1] + 1) * 0.01


@dataclass(frozen=True)
class Reflection:
    samples: np.ndarray
    """Speech alone, 16 kHz, with digital silence around it; noise is mixed in by tests."""
    start_s: float
    end_s: float


def _reflection() -> Reflection:
    pieces = [np.zeros(round(LEAD_S * RATE_HZ), np.float32)]
    marks: list[tuple[float, float]] = []
    at_s = LEAD_S
    for index, name in enumerate(CLIPS):
        clip = decode_16k(FIXTURES / name)
        start_s, end_s = _speech_marks(clip)
        clip = clip[round(start_s * RATE_HZ) : round(end_s * RATE_HZ)]
        clip = clip * 10 ** ((SPEECH_DBFS - np.percentile(_frame_db(clip), 95)) / 20)
        pieces.append(clip.astype(np.float32))
        marks.append((at_s, at_s + clip.size / RATE_HZ))
        at_s += clip.size / RATE_HZ
        pause_s = PAUSES_S[index] if index < len(PAUSES_S) else TAIL_S
        pieces.append(np.zeros(round(pause_s * RATE_HZ), np.float32))
        at_s += pause_s
    return Reflection(np.concatenate(pieces), marks[0][0], marks[-1][1])


REFLECTION = _reflection()


def _at_level(noise: np.ndarray, level_dbfs: float) -> np.ndarray:
    rms = np.sqrt(np.mean(np.square(noise, dtype=np.float64)))
    return (noise * (10 ** (level_dbfs / 20) / rms)).astype(np.float32)


def _lowpass(samples: np.ndarray, cutoff_hz: float) -> np.ndarray:
    decay = np.exp(-2 * np.pi * cutoff_hz / RATE_HZ)
    return lfilter([1 - decay], [1, -decay], samples)


def room(n: int) -> np.ndarray:
    """The fixtures' still room (quiet brown noise, about -53 dBFS), looped."""
    loop = decode_16k(FIXTURES / "room-noise.flac")
    return np.resize(loop, n)


def brown(n: int) -> np.ndarray:
    """The session's own brown-noise bed, as it leaks from the speakers."""
    return np.resize(noise_loop("brown-noise", RATE_HZ), n)


def fan(n: int, seed: int = 1) -> np.ndarray:
    """A desk fan: airflow (noise rolling off above ~1 kHz, a little hiss), the blade hum
    at 118 Hz with its harmonic, and a slow wobble."""
    rng = np.random.default_rng(seed)
    t_s = np.arange(n) / RATE_HZ
    air = _lowpass(rng.standard_normal(n), 900) + 0.5 * _lowpass(rng.standard_normal(n), 3000)
    air *= 1 + 0.15 * np.sin(2 * np.pi * 1.3 * t_s)
    hum = np.sin(2 * np.pi * 118 * t_s) + 0.5 * np.sin(2 * np.pi * 236 * t_s)
    return air + 0.3 * np.std(air) * hum


def traffic(n: int, seed: int = 2) -> np.ndarray:
    """Traffic through a window: deep rumble that swells and fades, an engine drone."""
    rng = np.random.default_rng(seed)
    t_s = np.arange(n) / RATE_HZ
    rumble = _lowpass(_lowpass(rng.standard_normal(n), 120), 200)
    rumble *= 1 + 0.6 * np.sin(2 * np.pi * 0.15 * t_s)
    drone_hz = 70 + 8 * np.sin(2 * np.pi * 0.1 * t_s)
    return rumble + 0.4 * np.std(rumble) * np.sin(2 * np.pi * np.cumsum(drone_hz) / RATE_HZ)


def knock(n: int, at_s: float = 4.0) -> np.ndarray:
    """One knock on a wooden door at ``at_s``, peaking at -6 dBFS, in a still room."""
    t_s = np.arange(round(0.12 * RATE_HZ)) / RATE_HZ
    body = np.exp(-t_s / 0.025) * (
        np.sin(2 * np.pi * 190 * t_s)
        + 0.6 * np.sin(2 * np.pi * 460 * t_s)
        + 0.3 * np.sin(2 * np.pi * 1150 * t_s)
    )
    body[:16] += np.linspace(2, 0, 16)  # the hard contact
    out = room(n).astype(np.float64)
    start = round(at_s * RATE_HZ)
    out[start : start + body.size] += body / np.max(np.abs(body)) * 0.5
    return out


@dataclass
class Decision:
    start_s: float | None
    end_s: float | None
    finished_at_s: float | None
    """Stream time of the block at which the detector said the speaker had finished."""


def listen(samples: np.ndarray) -> Decision:
    vad = SileroVoiceActivity(END_SILENCE_S)
    block = round(BLOCK_S * RATE_HZ)
    for first in range(0, samples.size, block):
        if vad.feed(samples[first : first + block].astype(np.float32)):
            return Decision(vad.start_s, vad.end_s, (first + block) / RATE_HZ)
    return Decision(vad.start_s, vad.end_s, None)


SPEECH_CASES = {
    "still room": lambda n: room(n),
    "room noise at -40 dBFS": lambda n: _at_level(room(n), -40),
    "brown-noise bed at -30 dBFS": lambda n: _at_level(brown(n), -30),
    "brown-noise bed at -20 dBFS": lambda n: _at_level(brown(n), -20),
    "fan at -35 dBFS": lambda n: _at_level(fan(n), -35),
    "fan at -30 dBFS": lambda n: _at_level(fan(n), -30),
    "traffic at -30 dBFS": lambda n: _at_level(traffic(n), -30),
}


@pytest.mark.parametrize("case", list(SPEECH_CASES))
def test_start_and_end_of_speech_within_300_ms_in_noise(case: str) -> None:
    speech = REFLECTION.samples
    heard = listen(speech + SPEECH_CASES[case](speech.size))
    assert heard.start_s is not None and heard.end_s is not None, case
    assert abs(heard.start_s - REFLECTION.start_s) <= TOLERANCE_S, (case, heard)
    assert abs(heard.end_s - REFLECTION.end_s) <= TOLERANCE_S, (case, heard)
    # Not in a pause of up to 2.5 s: only after the last words and 3 s of quiet.
    assert heard.finished_at_s is not None, case
    assert heard.finished_at_s >= REFLECTION.end_s + END_SILENCE_S - TOLERANCE_S, (case, heard)
    assert heard.finished_at_s <= REFLECTION.end_s + END_SILENCE_S + TOLERANCE_S + BLOCK_S


def test_quiet_speech_25_db_below_normal_is_heard() -> None:
    quiet = REFLECTION.samples * 10 ** (-25 / 20)
    heard = listen(quiet + room(quiet.size))
    assert heard.start_s is not None and heard.end_s is not None
    assert abs(heard.start_s - REFLECTION.start_s) <= TOLERANCE_S, heard
    assert abs(heard.end_s - REFLECTION.end_s) <= TOLERANCE_S, heard
    assert heard.finished_at_s is not None
    assert heard.finished_at_s >= REFLECTION.end_s + END_SILENCE_S - TOLERANCE_S


NOISE_ONLY = {
    "fan at -30 dBFS": lambda n: _at_level(fan(n), -30),
    "fan at -20 dBFS": lambda n: _at_level(fan(n), -20),
    "traffic hum at -30 dBFS": lambda n: _at_level(traffic(n), -30),
    "traffic hum at -20 dBFS": lambda n: _at_level(traffic(n), -20),
    "brown-noise bed at -30 dBFS": lambda n: _at_level(brown(n), -30),
    "brown-noise bed at -20 dBFS": lambda n: _at_level(brown(n), -20),
    "still room": lambda n: room(n),
    "a single knock": lambda n: knock(n),
    "a fan switched on after 3 s": lambda n: room(n) + _at_level(fan(n), -25) * _from(n, 3.0),
    "the noise bed fading in after 2 s": lambda n: (
        room(n) + _at_level(brown(n), -20) * _from(n, 2.0)
    ),
}


def _from(n: int, at_s: float) -> np.ndarray:
    """0 before ``at_s``, then 1 after a 50 ms rise: a sound that starts while listening
    (an energy gate takes it for speech)."""
    t_s = np.arange(n) / RATE_HZ
    return np.clip((t_s - at_s) / 0.05, 0, 1)


@pytest.mark.parametrize("case", list(NOISE_ONLY))
def test_noise_alone_never_opens(case: str) -> None:
    heard = listen(NOISE_ONLY[case](RATE_HZ * 8).astype(np.float32))
    assert heard.start_s is None, (case, heard)


def test_phrases_end_at_pauses_and_cover_the_speech() -> None:
    speech = REFLECTION.samples + room(REFLECTION.samples.size)
    vad = SileroVoiceActivity(END_SILENCE_S)
    block = round(BLOCK_S * RATE_HZ)
    phrases = []
    for first in range(0, speech.size, block):
        vad.feed(speech[first : first + block])
        phrases += vad.take_phrases()
    phrases += vad.close()
    assert len(phrases) == len(CLIPS), phrases  # every pause here is longer than 1.5 s
    assert abs(phrases[0].start_s - REFLECTION.start_s) <= TOLERANCE_S
    assert abs(phrases[-1].end_s - REFLECTION.end_s) <= TOLERANCE_S
    assert all(a.end_s < b.start_s for a, b in zip(phrases, phrases[1:], strict=False))


def test_a_long_phrase_without_pauses_is_cut_before_whisper_s_30_s() -> None:
    # The Kennedy recording twice over with its pauses closed up: speech that never rests.
    jfk = decode_16k(FIXTURES / "jfk.flac")
    voiced = SileroVoiceActivity(max_phrase_s=8.0)
    block = round(BLOCK_S * RATE_HZ)
    phrases = []
    stream = np.concatenate([jfk, jfk, jfk])
    for first in range(0, stream.size, block):
        voiced.feed(stream[first : first + block])
        phrases += voiced.take_phrases()
    phrases += voiced.close()
    assert all(p.end_s - p.start_s <= 8.0 + 1e-6 for p in phrases), phrases


def test_the_listener_uses_silero_when_it_is_installed() -> None:
    from selfkind.listen.vad import open_detector

    detector = open_detector(2.0)
    assert isinstance(detector, SileroVoiceActivity) and detector.end_silence_s == 2.0
