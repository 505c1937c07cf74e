"""Script -> finished files: the stages joined, with every output written atomically.

:func:`prepare_session` does everything up to a ready-to-play :class:`Session` (voice,
speech, timeline, mix); the live guide streams the same session to a speaker, and batch
rendering calls :func:`render_session` from worker processes.
"""

from __future__ import annotations

import errno
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from . import paths
from .background import BUILTIN_BACKGROUNDS, check_background, open_background
from .cache import ClipCache
from .captions import manifest, webvtt
from .encode import FORMATS, LOSSY_FORMATS, Chapter, EncodeError, Encoder, Tags, open_encoder
from .engines import VOICE_ENV, default_voice
from .engines.piper import trim_cuts
from .errors import CannotWrite, ScriptError, UsageError, one_or_all
from .files import publish, remove_stale_parts, temporary_beside, writing
from .levels import CLIP_LUFS, LOSSLESS_CEILING_DBTP, LOSSY_CEILING_DBTP, TARGET_LUFS
from .loudness import LoudnessMeter
from .master import Master
from .mix import MixSettings, SessionMix, session_gain_db
from .practices import practice_names, practice_text
from .progress import Progress
from .script import MAX_SCRIPT_BYTES, Script, parse_script, read_script_text
from .sounds import BELL_RING_S
from .synth import SESSION_RATE_HZ, CachedClips, SpokenClips, synthesize_script
from .timeline import (
    LEAD_IN_S,
    Timeline,
    compile_timeline,
    length_range_s,
    quiet_spans,
    utterances,
)
from .voices import VoiceProfile, load_voice, voice_names

if TYPE_CHECKING:
    from .mp3split import SplitMp3Encoder

DEFAULT_BACKGROUND_LEVEL_DB = -28.0
"""Ambience this far under the voice unless the script says otherwise: quiet, as listeners ask."""


@dataclass
class Session:
    """A script made ready to play: its voice, timeline and a mixer for its samples."""

    script: Script
    voice: VoiceProfile
    mix: SessionMix
    synthesized: int
    """Clips synthesized for this session; the rest came from the cache."""

    @property
    def timeline(self) -> Timeline:
        return self.mix.timeline


@dataclass(frozen=True)
class Rendered:
    audio: Path
    captions: Path
    manifest: Path
    duration_s: float
    loudness_lufs: float
    synthesized: int
    replaced: Path | None = None
    """An audio file of another format this render's captions and manifest used to describe
    (the same name, written by an earlier render), removed so no file is left without them."""


def load_script(source: str, mistakes: list[ScriptError] | None = None) -> Script:
    """A script from a file path or the name of a built-in practice; with ``mistakes``, its
    mistakes are added there rather than raised (see :func:`parse_script`)."""
    path = Path(source)
    if path.is_file():
        try:
            # One byte past the limit is enough to refuse a file, however large it is.
            with path.open("rb") as handle:
                data = handle.read(MAX_SCRIPT_BYTES + 1)
        except OSError as err:
            raise ScriptError(source, 0, 0, f"cannot read the file: {err.strerror}") from None
        return parse_script(read_script_text(data, source), source, mistakes)
    data = practice_text(source)
    if data is not None and "/" not in source:
        name = f"{source}.md"
        return parse_script(read_script_text(data, name), name, mistakes)
    if path.is_dir():
        raise ScriptError(source, 0, 0, "this is a folder; give a script file (.md)")
    known = ", ".join(practice_names())
    raise ScriptError(source, 0, 0, f"no such file or built-in practice (built-in: {known})")


def resolve_voice(script: Script, override: str | None, pace: float = 1.0) -> VoiceProfile:
    """The voice a session speaks in (``--voice`` over the script's over this machine's
    default), at ``pace``."""
    name = override or script.front.voice or default_voice()[0]
    try:
        return load_voice(name).paced(pace)
    except KeyError:
        line, col = script.location("voice") if override is None else (0, 0)
        where = script.path if override is None else "--voice"
        if not override and not script.front.voice:
            where = f"${VOICE_ENV}"
        raise ScriptError(
            where, line, col, f"unknown voice '{name}' (known: {', '.join(voice_names())})"
        ) from None


def with_background(
    script: Script, background: str | None, background_level_db: float | None = None
) -> Script:
    """The script with the ambience chosen when playing (``--background``,
    ``--background-level``) in place of its own. A file named there is relative to where the
    command runs, not to the script; a mistake in it is the option's (UsageError)."""
    front = script.front
    if background is not None:
        spec = background
        if spec not in BUILTIN_BACKGROUNDS:
            spec = str(Path(spec).expanduser().absolute())
        front = replace(front, background=spec)
    if background_level_db is not None:
        front = replace(front, background_level_db=background_level_db)
    changed = replace(script, front=front)
    if background is not None:
        try:
            check_background(changed, changed.front.background, SESSION_RATE_HZ)
        except ScriptError as err:
            raise UsageError("--background", err.message.replace(spec, background)) from None
    return changed


def prepare_session(
    script: Script,
    voice_name: str | None = None,
    duration_s: float | None = None,
    jobs: int = 1,
    progress: Progress | None = None,
    pace: float = 1.0,
) -> Session:
    """Everything before the first sample: checks, speech synthesis (cached), timeline, mixer.

    ``pace`` above 1 speaks faster, below 1 slower (see VoiceProfile.paced)."""
    progress = progress or Progress()
    voice = resolve_voice(script, voice_name, pace)
    background = script.front.background
    # The background is checked (and decoded) before speech, so a bad file is reported
    # before minutes of synthesis rather than after.
    ambience = open_background(
        script, background, SESSION_RATE_HZ, CLIP_LUFS, paths.user_cache_dir()
    )
    spoken = speech_lengths(script, voice, jobs, progress)
    timeline = compile_timeline(
        script,
        spoken.n_frames,
        SESSION_RATE_HZ,
        gap_s=voice.gap_s,
        breath_s=voice.breath_s,
        target_duration_s=duration_s if duration_s is not None else script.front.duration_s,
        target_from=None if duration_s is None else "--duration",
    )
    level_db = script.front.background_level_db
    settings = MixSettings(
        voice_lufs=CLIP_LUFS,
        background_level_db=DEFAULT_BACKGROUND_LEVEL_DB if level_db is None else level_db,
    )
    clips = CachedClips(ClipCache(paths.clip_cache_dir()), spoken)
    mix = SessionMix(timeline, clips, settings, ambience)
    return Session(script, voice, mix, spoken.synthesized)


def speech_lengths(
    script: Script, voice: VoiceProfile, jobs: int = 1, progress: Progress | None = None
) -> SpokenClips:
    """Synthesize (or find in the cache) every utterance of a script."""
    progress = progress or Progress()
    texts = utterances(script)
    progress.start("Preparing the voice", len(texts))
    cache = ClipCache(paths.clip_cache_dir())
    spoken = synthesize_script(texts, voice, cache, jobs=jobs, on_clip=progress.advance)
    cache.trim()  # this session's clips were just used, so they stay
    trim_cuts()  # and the Piper cuts of models no longer installed go with them
    return spoken


def check_script(source: str, jobs: int = 1) -> Script:
    """Find everything a render would reject, without rendering; raises ScriptError for one
    mistake or ScriptErrors for several, each at its own location.

    Beyond the script's own mistakes: the voice exists, the background is audio and long
    enough (decoded into the cache on the way), and a ``duration:`` fits the script, for
    which its speech is synthesized (into the cache, so the render after is quicker).
    """
    errors: list[ScriptError] = []
    script = load_script(source, errors)
    voice = None
    try:
        voice = resolve_voice(script, None)
    except ScriptError as err:
        errors.append(err)
    try:
        check_background(script, script.front.background, SESSION_RATE_HZ, paths.user_cache_dir())
    except ScriptError as err:
        errors.append(err)
    if not errors and voice is not None and script.front.duration_s is not None:
        spoken = speech_lengths(script, voice, jobs)
        try:
            compile_timeline(
                script,
                spoken.n_frames,
                SESSION_RATE_HZ,
                voice.gap_s,
                script.front.duration_s,
                breath_s=voice.breath_s,
            )
        except ScriptError as err:
            errors.append(err)
    if errors:
        raise one_or_all(sorted(errors, key=lambda e: (e.line, e.col)))
    return script


def check_output(audio_path: Path, what: str = "-o") -> None:
    """Refuse, before any work, an output that cannot be written (a folder, a name under a
    file, a place like /proc) as a mistake in the option ``what``. Creates nothing: the
    nearest folder that exists is tried with a file made and removed at once."""
    for path in (audio_path, *companion_paths(audio_path)):
        if path.is_dir():
            raise UsageError(what, f"'{path}' is a folder; name a file to write")
        if path.exists() and not path.is_file():
            # A device or a pipe (say /dev/stdout) would be replaced by a plain file.
            raise UsageError(what, f"'{path}' is not a regular file; name a file to write")
    folder = audio_path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise UsageError(what, f"cannot write '{audio_path}': '{folder}' is a file, not a folder")
    try:
        probe = temporary_beside(folder / audio_path.name)
    except OSError as err:
        raise UsageError(what, f"cannot write '{audio_path}': {err.strerror or err}") from None
    probe.unlink()


def script_length_range(script: Script, jobs: int = 1) -> tuple[float, float]:
    """Shortest and longest session a script can make with its own voice, in seconds."""
    voice = resolve_voice(script, None)
    spoken = speech_lengths(script, voice, jobs)
    return length_range_s(script, spoken.n_frames, SESSION_RATE_HZ, voice.gap_s, voice.breath_s)


def companion_paths(audio: Path) -> tuple[Path, Path]:
    """Captions and manifest sit beside the audio, with the same stem."""
    return audio.with_suffix(".vtt"), audio.with_suffix(".json")


def previous_audio(audio: Path) -> Path | None:
    """The audio file of another format that the manifest beside ``audio`` says an earlier
    render wrote (``x.wav`` when ``x.mp3`` is about to be written), if it is still there.

    Only a manifest selfkind wrote names it (it has ``manifest_version`` and ``audio``), and
    only a file of the same name in a format selfkind writes, in the same folder, is named:
    nothing else is ever taken for ours."""
    manifest_path = companion_paths(audio)[1]
    try:
        document = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(document, dict) or "manifest_version" not in document:
        return None
    named = document.get("audio")
    if not isinstance(named, str) or named == audio.name:
        return None
    candidate = audio.parent / named
    if Path(named).name != named or candidate.stem != audio.stem:
        return None
    if candidate.suffix.lstrip(".").lower() not in FORMATS or not candidate.is_file():
        return None
    return candidate


def session_title(title: str, duration_s: float, voice: str) -> str:
    """What a player lists: "Self-Compassion Break (10 min, natural)", so a batch's lengths
    and voices are told apart on a phone."""
    length = f"{round(duration_s / 60)} min" if duration_s >= 59.5 else f"{round(duration_s)} s"
    return f"{title} ({length}, {voice})"


def session_tags(session: Session, track: tuple[int, int] | None = None) -> Tags:
    timeline = session.timeline
    return Tags(
        title=session_title(timeline.title, timeline.duration_s, session.voice.name),
        artist=session.voice.name,
        track=track[0] if track else None,
        track_total=track[1] if track else None,
    )


def session_chapters(timeline: Timeline) -> list[Chapter]:
    """One chapter per section, in time order; the first starts at 0 when only the lead-in
    comes before it, as players expect chapters to cover the file."""
    chapters = [Chapter(e.text, e.start_s, e.end_s) for e in timeline.of_kind("section")]
    if chapters and chapters[0].start_s <= LEAD_IN_S:
        chapters[0] = Chapter(chapters[0].title, 0.0, chapters[0].end_s)
    return chapters


def render_session(
    session: Session,
    audio_path: Path,
    fmt: str,
    progress: Progress | None = None,
    extra: dict[str, object] | None = None,
    track: tuple[int, int] | None = None,
) -> Rendered:
    """Mix, master and encode to ``audio_path``, with captions and manifest beside it;
    ``track`` is (number, total) within a batch.

    Nothing appears at the final paths until all three are complete; on any failure or
    interruption the temporary files are removed.
    """
    progress = progress or Progress()
    timeline = session.timeline
    rate = timeline.sample_rate_hz
    captions_path, manifest_path = companion_paths(audio_path)
    replaced = previous_audio(audio_path)
    temps: list[Path] = []
    encoder: Encoder | SplitMp3Encoder | None = None
    try:
        with writing(audio_path):
            audio_temp = temporary_beside(audio_path)
        temps.append(audio_temp)
        tags = session_tags(session, track)
        chapters = session_chapters(timeline)
        # An MP3 may be encoded in pieces cut in the pauses, on both cores (see mp3split).
        quiet = quiet_spans(timeline, BELL_RING_S)
        encoder = open_encoder(
            audio_temp, fmt, rate, tags.title, chapters, tags, timeline.n_frames, quiet
        )
        ceiling = LOSSY_CEILING_DBTP if fmt in LOSSY_FORMATS else LOSSLESS_CEILING_DBTP
        master = Master(rate, session_gain_db(session.mix), ceiling)
        meter = LoudnessMeter(rate)
        progress.start("Rendering", timeline.n_frames)
        for block in session.mix.blocks():
            mastered = master.process(block)
            meter.add(mastered)
            encoder.write(mastered)
            progress.advance(block.size)
        tail = master.flush()
        meter.add(tail)
        encoder.write(tail)
        encoder.close()
        encoder = None
        loudness_lufs = meter.integrated_lufs
        details: dict[str, object] = {
            **(extra or {}),
            "voice": session.voice.name,
            "tags": tags.fields(),
            "format": fmt,
            "audio": audio_path.name,
            "loudness_lufs": round(loudness_lufs, 2),
            "limiter_max_reduction_db": round(master.limiter.peak_gain_reduction_db, 2),
            "script": session.script.path,
        }
        for final, text in (
            (captions_path, webvtt(timeline)),
            (manifest_path, manifest(timeline, details)),
        ):
            with writing(final):
                temp = temporary_beside(final)
                temps.append(temp)
                temp.write_text(text, encoding="utf-8")
        for temp, final in zip(temps, (audio_path, captions_path, manifest_path), strict=True):
            publish(temp, final)
        temps.clear()
        if replaced is not None:
            replaced.unlink(missing_ok=True)
    except EncodeError as err:
        # ffmpeg names its hidden temporary file; a full disk is said about the file asked for.
        full = [os.strerror(code) for code in (errno.ENOSPC, errno.EDQUOT)]
        reason = next((text for text in full if text in str(err)), None)
        if reason is None:
            raise
        raise CannotWrite(f"cannot write {audio_path}: {reason}") from None
    finally:
        if encoder is not None:
            encoder.abort()
        for temp in temps:
            temp.unlink(missing_ok=True)
    return Rendered(
        audio_path,
        captions_path,
        manifest_path,
        timeline.duration_s,
        loudness_lufs,
        session.synthesized,
        replaced,
    )


def render_file(
    source: str,
    audio_path: Path,
    fmt: str,
    voice_name: str | None = None,
    duration_s: float | None = None,
    jobs: int = 1,
    progress: Progress | None = None,
    on_prepared: Callable[[Session], None] | None = None,
    pace: float = 1.0,
    background: str | None = None,
    background_level_db: float | None = None,
) -> Rendered:
    script = with_background(load_script(source), background, background_level_db)
    check_output(audio_path)
    remove_stale_parts(audio_path.parent)
    session = prepare_session(script, voice_name, duration_s, jobs, progress, pace)
    if on_prepared:
        on_prepared(session)
    return render_session(session, audio_path, fmt, progress)


def preview_samples(voice: VoiceProfile, text: str) -> tuple[np.ndarray, int]:
    """One utterance in a voice, mastered like a session, with a breath of silence around it."""
    cache = ClipCache(paths.clip_cache_dir())
    clip = cache.load(synthesize_script([text], voice, cache).keys[text])
    pad = np.zeros(round(0.3 * SESSION_RATE_HZ), dtype=np.float32)
    master = Master(SESSION_RATE_HZ, TARGET_LUFS - CLIP_LUFS, LOSSY_CEILING_DBTP)
    mastered = np.concatenate([master.process(np.concatenate([pad, clip, pad])), master.flush()])
    return mastered, SESSION_RATE_HZ


def write_audio(samples: np.ndarray, sample_rate_hz: int, path: Path, fmt: str, title: str) -> None:
    """A finished buffer to a file, atomically."""
    temp = temporary_beside(path)
    encoder = Encoder(temp, fmt, sample_rate_hz, title)
    try:
        encoder.write(samples)
        encoder.close()
        publish(temp, path)
    except BaseException:
        encoder.abort()
        raise
    finally:
        temp.unlink(missing_ok=True)
