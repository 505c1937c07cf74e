"""The routes of the local page, each a thin call into the library (as the CLI is)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
)
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ..engines import unavailable_reason
from ..errors import ScriptError, ScriptErrors, SelfkindError
from ..journal.export import export_journal
from ..journal.history import KIND_GUIDE, History, Sitting, by_week
from ..journal.store import Entry, Journal
from ..journal.written import keep_written, now_iso
from ..listen.recognizers import Recognizer
from ..listen.recording import Context
from ..render import resolve_voice
from ..script import MAX_SCRIPT_BYTES, parse_script, read_script_text
from ..units import format_duration
from ..voices import load_voice, voice_names
from .reflections import MAX_CHUNK_BYTES, BrowserReflection, Reflections
from .security import Guard, GuardMiddleware, check_csrf
from .sessions import (
    KEY_PATTERN,
    SESSION_FORMAT,
    Practice,
    Renderer,
    is_rendered,
    library,
    load_practice,
    played,
    session_files,
    sessions_dir,
)

HERE = Path(__file__).resolve().parent
MAX_TEXT_BYTES = 100_000
"""A written reflection, or a search: far more than anyone types, far less than a flood."""


@dataclass
class Settings:
    guard: Guard
    journal_path: Path | None = None
    own_folder: Path | None = None
    """The person's own scripts, shown in the library beside the built-in ones."""
    make_recognizer: Callable[[], Recognizer] | None = None


_templates = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
_templates.globals["format_duration"] = format_duration


def page(request: Request, name: str, status: int = 200, **values: Any) -> HTMLResponse:
    settings: Settings = request.app.state.settings
    html = _templates.get_template(name).render(
        csrf=settings.guard.csrf, path=request.url.path, **values
    )
    return HTMLResponse(html, status)


def _refused() -> PlainTextResponse:
    return PlainTextResponse("This request lacks the page's CSRF token; reload the page.", 403)


async def _body(request: Request, limit: int) -> bytes | None:
    """The request's body, or None if it is larger than ``limit`` bytes (read no further)."""
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > limit:
            return None
    return bytes(data)


def _journal(request: Request) -> Journal:
    return Journal(request.app.state.settings.journal_path)


# The library and the player ----------------------------------------------------------------


async def library_page(request: Request) -> HTMLResponse:
    settings: Settings = request.app.state.settings
    practices, broken = await run_in_threadpool(library, settings.own_folder)
    return page(request, "library.html", practices=practices, broken=broken)


def _voices() -> list[tuple[str, str, str | None]]:
    """(name, description, why it cannot speak here or None) for every voice."""
    out = []
    for name in voice_names():
        profile = load_voice(name)
        out.append((name, profile.description, unavailable_reason(profile)))
    return out


async def practice_page(request: Request) -> HTMLResponse:
    practice = await _practice(request, request.path_params["practice"])
    if practice is None:
        return page(request, "missing.html", 404, what="practice")
    return page(request, "practice.html", practice=practice, voices=_voices())


async def _practice(request: Request, practice_id: str) -> Practice | None:
    settings: Settings = request.app.state.settings
    try:
        return await run_in_threadpool(load_practice, practice_id, settings.own_folder)
    except SelfkindError:
        return None


async def play(request: Request) -> Response:
    """Start (or join) the render of a practice at a length and voice; say where it is."""
    if not await check_csrf(request):
        return _refused()
    form = await request.form()
    practice = await _practice(request, str(form.get("practice", "")))
    if practice is None:
        return JSONResponse({"error": "no such practice"}, 404)
    voice = str(form.get("voice") or practice.voice)
    try:
        duration_s = float(str(form.get("duration", "")))
    except ValueError:
        return JSONResponse({"error": "choose a length"}, 400)
    if voice not in voice_names():
        return JSONResponse({"error": f"no voice named {voice}"}, 400)
    renderer: Renderer = request.app.state.renderer
    job = renderer.request(practice, voice, duration_s)
    return JSONResponse({"key": job.key})


async def render_state(request: Request) -> JSONResponse:
    key = request.path_params["key"]
    audio = f"/sessions/{key}.{SESSION_FORMAT}"
    renderer: Renderer = request.app.state.renderer
    job = renderer.job(key)
    if job is None:
        if is_rendered(key):
            return JSONResponse(
                {"key": key, "ready": True, "fraction": 1.0, "label": "Ready", "audio": audio}
            )
        return JSONResponse({"error": "no such session"}, 404)
    ready = job.finished and job.error is None and is_rendered(key)
    return JSONResponse(
        {
            "key": key,
            "ready": ready,
            "error": job.error,
            "label": "Ready" if ready else job.progress.label,
            "fraction": 1.0 if ready else job.progress.fraction,
            "audio": audio,
        }
    )


_SESSION_TYPES = {
    SESSION_FORMAT: {"wav": "audio/wav", "mp3": "audio/mpeg"}[SESSION_FORMAT],
    "vtt": "text/vtt; charset=utf-8",
    "json": "application/json",
}


async def session_file(request: Request) -> Response:
    key, kind = request.path_params["key"], request.path_params["kind"]
    if not KEY_PATTERN.match(key) or kind not in _SESSION_TYPES:
        return PlainTextResponse("Not found", 404)
    audio, captions, manifest = session_files(key)
    path = {SESSION_FORMAT: audio, "vtt": captions, "json": manifest}[kind]
    if not path.is_file():
        return PlainTextResponse("Not found", 404)
    if kind == "json":
        played(key)  # the player reads the manifest once per play
    return FileResponse(path, media_type=_SESSION_TYPES[kind])


# Making your own ---------------------------------------------------------------------------


async def make_page(request: Request) -> HTMLResponse:
    return page(request, "make.html", voices=_voices(), limit=MAX_SCRIPT_BYTES)


def _check_typed(data: bytes) -> tuple[list[dict[str, object]], dict[str, object]]:
    """Mistakes of a typed script (line, column, message), and a summary when it reads."""
    mistakes: list[ScriptError] = []
    name = "typed.md"
    try:
        script = parse_script(read_script_text(data, name), name, mistakes)
        if not mistakes:
            resolve_voice(script, None)
    except ScriptErrors as err:
        mistakes += err.errors
    except ScriptError as err:
        mistakes.append(err)
    found = [
        {"line": e.line, "col": e.col, "message": e.message}
        for e in sorted(mistakes, key=lambda e: (e.line, e.col))
    ]
    summary: dict[str, object] = {}
    if not found:
        summary = {"title": script.title}
    return found, summary


async def make_check(request: Request) -> Response:
    if not await check_csrf(request):
        return _refused()
    data = await _body(request, MAX_SCRIPT_BYTES)
    if data is None:
        return JSONResponse(
            {"mistakes": [{"line": 0, "col": 0, "message": "the script is larger than 1 MB"}]}
        )
    mistakes, summary = await run_in_threadpool(_check_typed, data)
    return JSONResponse({"mistakes": mistakes, **summary})


async def make_preview(request: Request) -> Response:
    """Render a typed script like a practice, from a copy in the cache folder."""
    if not await check_csrf(request):
        return _refused()
    data = await _body(request, MAX_SCRIPT_BYTES)
    if data is None:
        return JSONResponse({"error": "the script is larger than 1 MB"}, 413)
    mistakes, _ = await run_in_threadpool(_check_typed, data)
    if mistakes:
        return JSONResponse({"mistakes": mistakes}, 400)
    folder = sessions_dir() / "typed"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{hashlib.sha256(data).hexdigest()[:16]}.md"
    path.write_bytes(data)
    practice = await _practice_from_file(path)
    if isinstance(practice, str):
        return JSONResponse({"error": practice}, 400)
    renderer: Renderer = request.app.state.renderer
    job = renderer.request(practice, practice.voice, None)
    return JSONResponse({"key": job.key, "title": practice.script.title})


async def _practice_from_file(path: Path) -> Practice | str:
    try:
        return await run_in_threadpool(load_practice, f"mine/{path.name}", path.parent)
    except SelfkindError as err:
        return str(err)


# Reflections -------------------------------------------------------------------------------


async def reflection_start(request: Request) -> Response:
    if not await check_csrf(request):
        return _refused()
    settings: Settings = request.app.state.settings
    form = await request.form()
    context = Context(
        prompt=str(form.get("prompt", ""))[:2000],
        practice=str(form.get("practice", ""))[:200],
        session_id=str(form.get("session_id", ""))[:100],
    )
    reflections: Reflections = request.app.state.reflections
    await run_in_threadpool(reflections.end_idle)
    try:
        reflection = await run_in_threadpool(
            BrowserReflection, settings.journal_path, settings.make_recognizer, context
        )
    except SelfkindError as err:
        return JSONResponse({"error": str(err)}, 500)
    reflections.add(reflection)
    return JSONResponse({"id": reflection.id})


async def reflection_audio(request: Request) -> Response:
    if not await check_csrf(request):
        return _refused()
    reflections: Reflections = request.app.state.reflections
    reflection = reflections.get(request.path_params["id"])
    if reflection is None:
        return JSONResponse({"error": "this reflection has ended"}, 404)
    data = await _body(request, MAX_CHUNK_BYTES)
    if data is None:
        return JSONResponse({"error": "send at most 10 s of audio at a time"}, 413)
    try:
        finished = await run_in_threadpool(reflection.accept, data)
    except SelfkindError as err:
        return JSONResponse({"error": str(err)}, 500)
    return JSONResponse(
        {"partial": reflection.partial, "finished": finished, "heard_s": reflection.heard_s}
    )


async def reflection_end(request: Request) -> Response:
    if not await check_csrf(request):
        return _refused()
    reflections: Reflections = request.app.state.reflections
    try:
        result = await run_in_threadpool(reflections.end, request.path_params["id"])
    except SelfkindError as err:
        return JSONResponse({"error": str(err)}, 500)
    if result is None:
        return JSONResponse({"error": "no such reflection"}, 404)
    return JSONResponse(
        {"entry": result.entry_id, "transcript": result.transcript, "status": result.status}
    )


# The journal -------------------------------------------------------------------------------


def _entries(settings: Settings, query: str) -> list[Entry]:
    with Journal(settings.journal_path) as journal:
        found = journal.search(query) if query else journal.entries()
    return found if query else list(reversed(found))


async def journal_page(request: Request) -> HTMLResponse:
    settings: Settings = request.app.state.settings
    query = request.query_params.get("q", "")[:MAX_TEXT_BYTES].strip()
    try:
        entries = await run_in_threadpool(_entries, settings, query)
    except SelfkindError as err:
        return page(request, "journal.html", 500, entries=[], query=query, problem=str(err))
    return page(request, "journal.html", entries=entries, query=query, problem=None)


def _entry(settings: Settings, entry_id: int) -> tuple[Entry | None, bool]:
    with Journal(settings.journal_path) as journal:
        entry = journal.get(entry_id)
        audio = journal.audio_path(entry) if entry else None
    return entry, bool(audio and audio.is_file())


async def entry_page(request: Request) -> HTMLResponse:
    settings: Settings = request.app.state.settings
    entry, has_audio = await run_in_threadpool(_entry, settings, request.path_params["id"])
    if entry is None:
        return page(request, "missing.html", 404, what="journal entry")
    _, original = await run_in_threadpool(_entry_and_original, settings, entry.id)
    return page(request, "entry.html", entry=entry, has_audio=has_audio, original=original)


async def entry_audio(request: Request) -> Response:
    settings: Settings = request.app.state.settings

    def find() -> Path | None:
        with Journal(settings.journal_path) as journal:
            entry = journal.get(request.path_params["id"])
            return journal.audio_path(entry) if entry else None

    audio = await run_in_threadpool(find)
    if audio is None or not audio.is_file():
        return PlainTextResponse("Not found", 404)
    return FileResponse(audio, media_type="audio/flac")


async def entry_delete_page(request: Request) -> HTMLResponse:
    settings: Settings = request.app.state.settings
    entry, _ = await run_in_threadpool(_entry, settings, request.path_params["id"])
    if entry is None:
        return page(request, "missing.html", 404, what="journal entry")
    return page(request, "delete.html", entry=entry)


async def entry_delete(request: Request) -> Response:
    if not await check_csrf(request):
        return _refused()
    settings: Settings = request.app.state.settings

    def delete() -> bool:
        with Journal(settings.journal_path) as journal:
            return journal.delete(request.path_params["id"])

    try:
        await run_in_threadpool(delete)
    except SelfkindError as err:
        return page(request, "missing.html", 500, what="journal entry", problem=str(err))
    return RedirectResponse("/journal?deleted=1", 303)


async def journal_write(request: Request) -> Response:
    """A reflection written instead of spoken (the microphone was refused or not wanted)."""
    if not await check_csrf(request):
        return _refused()
    settings: Settings = request.app.state.settings
    form = await request.form()
    text = str(form.get("text", "")).strip()
    if not text:
        return JSONResponse({"error": "write something first"}, 400)
    if len(text.encode()) > MAX_TEXT_BYTES:
        return JSONResponse({"error": "a reflection holds at most 100 kB of text"}, 400)

    def add() -> int:
        with Journal(settings.journal_path) as journal:
            return keep_written(
                journal,
                text,
                prompt=str(form.get("prompt", ""))[:2000],
                practice=str(form.get("practice", ""))[:200],
            )

    return JSONResponse({"entry": await run_in_threadpool(add)})


async def journal_export(request: Request) -> Response:
    """The journal as ``selfkind journal export`` writes it (with the history of sessions)."""
    settings: Settings = request.app.state.settings
    as_json = request.query_params.get("format", "md") == "json"

    def export() -> str:
        with Journal(settings.journal_path) as journal:
            return export_journal(journal, "json" if as_json else "md")

    body = await run_in_threadpool(export)
    media, name = (
        ("application/json", "journal.json")
        if as_json
        else ("text/markdown; charset=utf-8", "journal.md")
    )
    return Response(
        body, media_type=media, headers={"content-disposition": f'attachment; filename="{name}"'}
    )


IDLE_CHECK_S = 10.0


@contextlib.asynccontextmanager
async def _lifespan(app: Starlette) -> AsyncIterator[None]:
    """Reflections whose page went away (closed, asleep) are kept after a minute of no
    audio, not when the server stops; on stopping, every open one is kept."""

    async def sweep() -> None:
        while True:
            await asyncio.sleep(IDLE_CHECK_S)
            await run_in_threadpool(app.state.reflections.end_idle)

    task = asyncio.create_task(sweep())
    try:
        yield
    finally:
        task.cancel()
        await run_in_threadpool(app.state.reflections.end_all)


def _form_text(value: object) -> str | None:
    """A text field, or None when empty or too long to be a reflection."""
    text = str(value or "").replace("\r\n", "\n").strip()
    return text if text and len(text.encode()) <= MAX_TEXT_BYTES else None


async def new_entry_page(request: Request) -> HTMLResponse:
    return page(request, "write.html", entry=None, original=None, problem=None)


async def new_entry(request: Request) -> Response:
    """A reflection written on the journal page (the library's keep_written)."""
    if not await check_csrf(request):
        return _refused()
    settings: Settings = request.app.state.settings
    form = await request.form()
    text = _form_text(form.get("text"))
    if text is None:
        problem = "Write something first (at most 100 kB)."
        return page(request, "write.html", 400, entry=None, original=None, problem=problem)

    def add() -> int:
        with Journal(settings.journal_path) as journal:
            return keep_written(journal, text)

    return RedirectResponse(f"/journal/{await run_in_threadpool(add)}", 303)


def _entry_and_original(settings: Settings, entry_id: int) -> tuple[Entry | None, str | None]:
    with Journal(settings.journal_path) as journal:
        return journal.get(entry_id), journal.original(entry_id)


async def edit_entry_page(request: Request) -> HTMLResponse:
    settings: Settings = request.app.state.settings
    entry, original = await run_in_threadpool(
        _entry_and_original, settings, request.path_params["id"]
    )
    if entry is None:
        return page(request, "missing.html", 404, what="journal entry")
    return page(request, "write.html", entry=entry, original=original, problem=None)


async def edit_entry(request: Request) -> Response:
    """The person's own words in place of what was heard (the first text is kept aside)."""
    if not await check_csrf(request):
        return _refused()
    settings: Settings = request.app.state.settings
    entry_id = request.path_params["id"]
    form = await request.form()
    text = _form_text(form.get("text"))
    if text is None:
        entry, original = await run_in_threadpool(_entry_and_original, settings, entry_id)
        problem = "Write something first (at most 100 kB); to remove the entry, delete it."
        return page(request, "write.html", 400, entry=entry, original=original, problem=problem)

    def correct() -> bool:
        with Journal(settings.journal_path) as journal:
            return journal.correct(entry_id, text, now_iso())

    if not await run_in_threadpool(correct):
        return page(request, "missing.html", 404, what="journal entry")
    return RedirectResponse(f"/journal/{entry_id}", 303)


async def history_page(request: Request) -> HTMLResponse:
    settings: Settings = request.app.state.settings

    def weeks() -> list[object]:
        with Journal(settings.journal_path) as journal:
            return list(reversed(by_week(History(journal).sittings())))

    return page(request, "history.html", weeks=await run_in_threadpool(weeks))


async def history_add(request: Request) -> Response:
    """A session played on the page, as it happened (sent when it ends or the page is left)."""
    if not await check_csrf(request):
        return _refused()
    settings: Settings = request.app.state.settings
    form = await request.form()
    try:
        length_s = float(str(form.get("length_s", "")))
        heard_s = min(float(str(form.get("heard_s", ""))), length_s)
        stopped = form.get("stopped_at_s")
        stopped_at_s = float(str(stopped)) if stopped not in (None, "") else None
        reflections = int(str(form.get("reflections", "0")))
        elapsed_s = min(max(float(str(form.get("elapsed_s", "0"))), 0.0), 86400.0)
    except ValueError:
        return JSONResponse({"error": "length_s and heard_s are numbers"}, 400)
    if heard_s < 1:
        return JSONResponse({"kept": 0})  # pressed play and left at once: nothing to keep
    ended = dt.datetime.now().astimezone()
    sitting = Sitting(
        started_at=(ended - dt.timedelta(seconds=elapsed_s)).isoformat(timespec="seconds"),
        ended_at=ended.isoformat(timespec="seconds"),
        kind=KIND_GUIDE,
        practice=str(form.get("practice", ""))[:200],
        length_s=length_s,
        heard_s=round(heard_s, 1),
        source=str(form.get("source", ""))[:200],
        options={"duration_s": length_s, "voice": str(form.get("voice", ""))[:50]},
        reflections=reflections,
        stopped_at_s=stopped_at_s,
        stopped_in=str(form.get("stopped_in", ""))[:200],
    )

    def add() -> int:
        with Journal(settings.journal_path) as journal:
            return History(journal).add(sitting)

    return JSONResponse({"kept": await run_in_threadpool(add)})


async def history_delete_page(request: Request) -> HTMLResponse:
    settings: Settings = request.app.state.settings

    def find() -> Sitting | None:
        with Journal(settings.journal_path) as journal:
            wanted = request.path_params["id"]
            return next((s for s in History(journal).sittings() if s.id == wanted), None)

    sitting = await run_in_threadpool(find)
    if sitting is None:
        return page(request, "missing.html", 404, what="session")
    return page(request, "history-delete.html", sitting=sitting)


async def history_delete(request: Request) -> Response:
    if not await check_csrf(request):
        return _refused()
    settings: Settings = request.app.state.settings

    def delete() -> int:
        with Journal(settings.journal_path) as journal:
            return History(journal).delete(request.path_params["id"])

    await run_in_threadpool(delete)
    return RedirectResponse("/journal/history", 303)


def create_app(settings: Settings) -> Starlette:
    routes = [
        Route("/", library_page),
        Route("/practice/{practice:path}", practice_page),
        Route("/play", play, methods=["POST"]),
        Route("/render/{key}", render_state),
        Route("/sessions/{key}.{kind}", session_file),
        Route("/make", make_page),
        Route("/make/check", make_check, methods=["POST"]),
        Route("/make/preview", make_preview, methods=["POST"]),
        Route("/reflections", reflection_start, methods=["POST"]),
        Route("/reflections/{id}/audio", reflection_audio, methods=["POST"]),
        Route("/reflections/{id}/end", reflection_end, methods=["POST"]),
        Route("/journal", journal_page),
        Route("/journal/export", journal_export),
        Route("/journal/write", journal_write, methods=["POST"]),
        Route("/journal/new", new_entry_page),
        Route("/journal/new", new_entry, methods=["POST"]),
        Route("/journal/history", history_page),
        Route("/journal/history", history_add, methods=["POST"]),
        Route("/journal/history/{id:int}/delete", history_delete_page),
        Route("/journal/history/{id:int}/delete", history_delete, methods=["POST"]),
        Route("/journal/{id:int}/edit", edit_entry_page),
        Route("/journal/{id:int}/edit", edit_entry, methods=["POST"]),
        Route("/journal/{id:int}", entry_page),
        Route("/journal/{id:int}/audio", entry_audio),
        Route("/journal/{id:int}/delete", entry_delete_page),
        Route("/journal/{id:int}/delete", entry_delete, methods=["POST"]),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    app = Starlette(routes=routes, lifespan=_lifespan)
    app.state.settings = settings
    app.state.guard = settings.guard
    app.state.renderer = Renderer()
    app.state.reflections = Reflections()
    app.add_middleware(GuardMiddleware, guard=settings.guard)
    return app
