"""guide and devices: a session played live, and the sound devices it can use."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from pathlib import Path

from ..background import check_background
from ..captions import Cue, cues
from ..devices import list_devices, native_messages_to
from ..errors import SetupError, UsageError
from ..estimate import estimated_length_range_s
from ..guide.player import Player
from ..guide.reflections import (
    ListeningOptions,
    ReflectionSteps,
    listen_at_steps,
    new_session_id,
)
from ..mix import SessionMix
from ..paths import sound_log_path
from ..render import load_script, prepare_session, resolve_voice, with_background
from ..script import Reflect, Script
from ..synth import SESSION_RATE_HZ
from ..terminal import KeyReader, edited
from ..units import format_about, format_duration
from ..voices import VoiceProfile
from .common import EXIT_INTERRUPTED, EXIT_OK, clock, device_option, printable
from .history import HeardClock, now, remember, resume_into
from .listen import check_recognizer, open_journal
from .screen import (
    KEYS_LINE,
    TYPE_KEY,
    TYPE_KEY_QUIET,
    TYPING_KEYS,
    GuideScreen,
    ScreenState,
)

SAFETY_NOTE = "You can stop at any time: press q (or Ctrl-C) and the session will close gently."


KEYS_HELP = (
    "space: pause/resume   n or \u2192: next section   b or \u2190: back   q: stop"
    "   enter: done speaking"
)
TYPE_HELP = "t at a reflection: type your answer (enter keeps it, esc goes back)"


LISTENING_NOTE = (
    "At the reflection steps, selfkind listens through your microphone (a soft chime marks"
    " it) and keeps what you say in your private journal on this computer. To keep them"
    " quiet instead, use --no-reflect."
)


class GuideView:
    """What the listener sees: the rich screen on a terminal (GuideScreen), or one plain
    line per caption (``--plain``, or no terminal) for screen readers and logs."""

    def __init__(
        self,
        player: Player,
        interactive: bool,
        reflections: ReflectionSteps | None = None,
        heading: tuple[str, str, str] = ("", "", ""),
        intro: str = "",
    ) -> None:
        self.player = player
        self.interactive = interactive
        self.reflections = reflections
        self.heading = heading
        """Title, length and voice."""
        self.intro = intro
        self._last: tuple[str, str] = ("", "")
        self._cues: list[Cue] | None = None
        self._note = ""
        self._echoed: str | None = None
        """The typed answer as echoed so far in plain lines (None: not typing)."""
        self._screen: GuideScreen | None = None
        if interactive:
            # The C libraries' messages are already kept off the terminal (play_script).
            self._screen = GuideScreen().__enter__()

    def tick(self) -> None:
        player = self.player
        if self.reflections is not None:
            if self._screen is None:
                self._echo_typing()  # the line ends before the message that keeps it
            self._say_messages()
        title, length, voice = self.heading
        if player.timeline is None or player.status.frame < 0:
            if self._screen is not None:
                self._screen.show(
                    ScreenState(title, length, voice, "Settling in...", self.intro, 0, 0)
                )
            return
        section = player.current("section")
        section_text = section.text if section else ""
        elapsed, total = player.position_s, player.timeline.duration_s
        if self._screen is not None:
            caption = player.current("speech")
            sentence = caption.text if caption else ""
            note, keys, typed = self._note, KEYS_LINE, None
            steps = self.reflections
            if steps is not None and steps.draft is not None:
                sentence, typed, keys = steps.typing_prompt, steps.draft, TYPING_KEYS
            elif steps is not None:
                if steps.listening:
                    note = "(listening)"
                    if steps.partial:
                        note = f"(listening) {steps.partial[-60:]}"
                if steps.can_type():
                    keys += TYPE_KEY if steps.listens else TYPE_KEY_QUIET
            self._screen.show(
                ScreenState(
                    title, length, voice, section_text, sentence, elapsed, total,
                    player.status.paused, note, keys, typed,
                )
            )  # fmt: skip
            return
        if self._cues is None:
            self._cues = cues(player.timeline)
        cue = next((c for c in self._cues if c.start_s <= elapsed < c.end_s), None)
        caption_text = cue.text if cue else ""
        if self.reflections is not None and self.reflections.listening:
            caption_text = "(listening)"
        if (section_text, caption_text) != self._last:
            if section_text != self._last[0] and section_text:
                print(f"[{clock(elapsed)}] {section_text}", flush=True)
            if caption_text != self._last[1] and caption_text:
                print(f"[{clock(elapsed)}]   {caption_text}", flush=True)
            self._last = (section_text, caption_text)

    def _echo_typing(self) -> None:
        """In plain lines (``--plain`` on a terminal), an answer being typed is echoed as it
        changes, after a line that gives its prompt."""
        draft = self.reflections.draft if self.reflections is not None else None
        if draft is None:
            if self._echoed is not None:
                print(flush=True)
                self._echoed = None
            return
        if self._echoed is None:
            assert self.reflections is not None
            print(
                f"[{clock(self.player.position_s)}]   Type your answer to: "
                f"{self.reflections.typing_prompt} (enter keeps it, esc goes back)"
            )
            sys.stdout.write("> ")
            self._echoed = ""
        same = len(os.path.commonprefix([self._echoed, draft]))
        sys.stdout.write("\b \b" * (len(self._echoed) - same) + draft[same:])
        sys.stdout.flush()
        self._echoed = draft

    def _say_messages(self) -> None:
        assert self.reflections is not None
        while not self.reflections.messages.empty():
            text = self.reflections.messages.get()
            if self._screen is not None:
                self._note = text
            elif self._echoed is not None:  # said under the line being typed, which goes on
                print(f"\n[{clock(self.player.position_s)}]   {text}\n> {self._echoed}", end="")
                sys.stdout.flush()
            else:
                print(f"[{clock(self.player.position_s)}]   {text}", flush=True)

    def end(self) -> None:
        if self._echoed is not None:  # typing when the session stopped: the line ends here
            print(flush=True)
            self._echoed = None
        if self.reflections is not None:
            self._say_messages()
        if self._screen is not None:
            self._screen.__exit__()
            self._screen = None
            if self._note:
                print(self._note, flush=True)


def _reflections(
    args: argparse.Namespace, player: Player, script: Script
) -> ReflectionSteps | None:
    """Listening at the script's reflection steps, or None (no steps). With --no-reflect the
    steps stay quiet, and an answer can still be typed there."""
    if not any(isinstance(item, Reflect) for item in script.items):
        return None
    if args.no_reflect:
        return ReflectionSteps(
            player, None, Path(args.journal) if args.journal else None, new_session_id()
        )
    with open_journal(args) as store:
        journal_path = store.path
    options = ListeningOptions(
        journal_path, device_option(args.input_device), args.engine, args.model, args.end_silence
    )
    check_recognizer(options.engine, options.model)
    steps = listen_at_steps(player, options)
    steps.show_transcripts = sys.stdout.isatty()  # what was said never goes into a log
    return steps


def _say_kept(reflections: ReflectionSteps | None) -> None:
    kept = [r for r in (reflections.kept if reflections else []) if r.entry_id]
    if kept:
        print(
            # A typed answer has no audio, so no duration.
            f"{'What you said' if any(r.duration_s for r in kept) else 'What you wrote'}"
            f" is in your private journal ({len(kept)}"
            f" {'entry' if len(kept) == 1 else 'entries'}): selfkind journal list"
        )


def _kept_count(reflections: ReflectionSteps | None) -> int:
    return sum(1 for r in (reflections.kept if reflections else []) if r.entry_id)


def cmd_guide(args: argparse.Namespace) -> int:
    if args.resume:
        resume_into(args)
    elif not args.script:
        raise UsageError("guide", "name a script or a practice (see: selfkind practices)")
    script = with_background(
        load_script(args.script),
        getattr(args, "background", None),
        getattr(args, "background_level", None),
    )
    return play_script(script, args, f"selfkind render {args.script}")


def length_text(script: Script, voice: VoiceProfile, duration_s: float | None) -> str:
    """How long a session will be ("10m"), or about how long when the pauses decide."""
    length_s = duration_s if duration_s is not None else script.front.duration_s
    if length_s is not None:
        return format_duration(length_s)
    low_s, high_s = estimated_length_range_s(script, voice)
    return format_about((low_s + high_s) / 2)


def introduction(script: Script, voice: VoiceProfile, duration_s: float | None) -> str:
    """What a person sees before the first word: what this is, how long, in which voice,
    and the practice's content note, so they can choose before it begins."""
    length = length_text(script, voice, duration_s)
    lines = [printable(f"{script.title}: {length}, {voice.name} voice")]
    if script.front.content_note:
        lines.append(printable(f"Content note: {script.front.content_note}"))
    return "\n".join(lines)


def play_script(script: Script, args: argparse.Namespace, render_instead: str) -> int:
    """Play a script live with the guide's view and keys (the timer plays through this too);
    ``render_instead`` is the command offered when no sound device opens."""
    with native_messages_to(sound_log_path()):
        return _play(script, args, render_instead)


def _play(script: Script, args: argparse.Namespace, render_instead: str) -> int:
    pace = getattr(args, "pace", 1.0)
    voice = resolve_voice(script, args.voice, pace)
    check_background(script, script.front.background)
    interactive = sys.stdin.isatty() and sys.stdout.isatty()

    def prepare() -> SessionMix:
        return prepare_session(script, args.voice, args.duration, pace=pace).mix

    player = Player(prepare, SESSION_RATE_HZ, device_option(args.output_device), args.delay)
    reflections = _reflections(args, player, script)
    started_at, heard = now(), HeardClock()
    try:
        player.start()
    except SetupError:
        raise
    except Exception as err:  # PortAudio's errors are plain exceptions from its C layer
        player.close()
        raise SetupError(
            f"no sound output device could be opened ({err}); to listen later, render the"
            f" session to a file instead: {render_instead}"
        ) from None
    if getattr(args, "resume_from_s", 0):
        player.command("seek", round(args.resume_from_s * SESSION_RATE_HZ))
    plain = getattr(args, "plain", False)
    listening = reflections is not None and reflections.listens
    intro = introduction(script, voice, args.duration)
    if not interactive or plain:
        print(intro, flush=True)
        print(SAFETY_NOTE, flush=True)
        if listening:
            print(LISTENING_NOTE, flush=True)
        if interactive:
            print(KEYS_HELP, flush=True)
            if reflections is not None:
                print(TYPE_HELP, flush=True)
    # On the screen the title, length and voice head it; the rest shows while it settles.
    intro_lines = [*intro.splitlines()[1:], SAFETY_NOTE, *([LISTENING_NOTE] if listening else [])]
    heading = (script.title, length_text(script, voice, args.duration), voice.name)
    view = GuideView(
        player, interactive and not plain, reflections, heading, "\n".join(intro_lines)
    )

    def tick() -> None:
        heard.look(player.position_s)
        if reflections is not None:
            reflections.tick()
        view.tick()

    done_speaking = reflections.done_speaking if reflections else lambda: None
    keys = {
        "space": player.toggle_pause, "p": player.toggle_pause, "n": lambda: player.skip(1),
        "right": lambda: player.skip(1), "b": lambda: player.skip(-1),
        "left": lambda: player.skip(-1), "q": player.quit, "enter": done_speaking,
    }  # fmt: skip

    def on_key(key: str) -> None:
        """While an answer is typed every key is part of it; otherwise the keys above."""
        draft = reflections.draft if reflections is not None else None
        if reflections is not None and draft is not None:
            if key == "enter":
                reflections.keep_typed()
            elif key == "esc":
                reflections.abandon_typed()
            else:
                reflections.draft = edited(draft, key)
        elif key.lower() == "t" and reflections is not None:
            reflections.start_typing()
        else:
            keys.get(key.lower(), lambda: None)()

    try:
        if interactive:
            with KeyReader(on_key):
                player.wait(tick)
        else:
            player.wait(tick)
    except KeyboardInterrupt:
        player.quit()
        with contextlib.suppress(KeyboardInterrupt):
            player.wait()  # the fade, bounded: a stalled device is not waited for
            if reflections is not None:
                reflections.close()
        player.close()
        view.end()
        print(f"Stopped after {clock(player.position_s)}. That is completely fine.")
        _say_kept(reflections)
        remember(args, script, player, heard, started_at, _kept_count(reflections))
        return EXIT_INTERRUPTED
    if reflections is not None:
        reflections.close()
    view.end()
    if player.error is not None:
        raise player.error
    timeline = player.timeline
    quit_early = timeline is not None and player.position_s < timeline.duration_s - 1
    if quit_early:
        print(f"Stopped after {clock(player.position_s)}. That is completely fine.")
    else:
        print("The session has ended. Thank you for taking this time for yourself.")
    _say_kept(reflections)
    remember(args, script, player, heard, started_at, _kept_count(reflections))
    if player.status.underruns:
        print(f"(audio fell behind {player.status.underruns} times)", file=sys.stderr)
    return EXIT_OK


def cmd_devices(args: argparse.Namespace) -> int:
    with native_messages_to(sound_log_path()):
        devices = list_devices()
    if not devices:
        raise SetupError(
            "no sound devices were found: start the sound server (pulseaudio --start, or"
            " systemctl --user start pipewire-pulse) or connect a sound card, then try again"
        )
    for device in devices:
        roles = []
        if device["max_output_channels"]:
            roles.append("output")
        if device["max_input_channels"]:
            roles.append("input")
        marks = "".join(" (default " + r + ")" for r in device.get("default_for", []))
        print(f"{device['index']:3}  {device['name']:40} {'/'.join(roles)}{marks}")
    return EXIT_OK
