"""Who may ask the page for what.

The server binds to loopback unless told otherwise. A random token is made for every run:
beyond loopback every request needs it; on loopback the library is open but the journal
(its text and audio) and reflections need it all the same, because anyone with an account
on the machine can reach a loopback port. The token arrives once in the address the server
prints (``?token=``) and is carried afterwards by an HttpOnly, SameSite=Strict cookie.

Requests that change anything (every POST) also need the page's CSRF token, and the Host
header must name this machine when bound to loopback, so a page elsewhere that rebinds a
DNS name to 127.0.0.1 still cannot read anything. No CORS headers are ever sent.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
from dataclasses import dataclass, field
from urllib.parse import urlencode

from starlette.datastructures import URL
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

PRIVATE_PREFIXES = ("/journal", "/reflections")
"""Paths that show or change the journal: an authenticated session only, wherever bound."""
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1", "[::1]")
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf"

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
    " media-src 'self' blob:; connect-src 'self'; font-src 'self'; object-src 'none';"
    " frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
"""Nothing is fetched from anywhere but this server, and the page cannot be framed."""


def is_loopback(host: str) -> bool:
    if host.strip("[]") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Guard:
    """The secrets of one server run and where it is bound."""

    host: str
    port: int
    token: str = field(default_factory=lambda: secrets.token_urlsafe(24))

    @property
    def loopback(self) -> bool:
        return is_loopback(self.host)

    @property
    def cookie_name(self) -> str:
        # Cookies do not tell ports apart: two servers on one machine keep their own.
        return f"selfkind_{self.port}"

    @property
    def csrf(self) -> str:
        return hmac.new(self.token.encode(), b"csrf", hashlib.sha256).hexdigest()

    def address(self, shown_host: str | None = None) -> str:
        """The address to open, token included (what the person is told)."""
        host = shown_host or ("127.0.0.1" if self.host in ("0.0.0.0", "::") else self.host)
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        return f"http://{host}:{self.port}/?{urlencode({'token': self.token})}"

    def authenticated(self, request: Request) -> bool:
        cookie = request.cookies.get(self.cookie_name, "")
        return hmac.compare_digest(cookie.encode(), self.token.encode())

    def csrf_ok(self, given: str) -> bool:
        return hmac.compare_digest(given.encode(), self.csrf.encode())


class GuardMiddleware:
    """Host check, token (query once, then cookie), CSRF on POST, and the safety headers."""

    def __init__(self, app: ASGIApp, guard: Guard) -> None:
        self.app = app
        self.guard = guard

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})  # the page uses none
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        refusal = self._refusal(request)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        private = request.url.path.startswith(PRIVATE_PREFIXES)

        async def send_with_headers(message: dict) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [
                    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
                    (b"x-content-type-options", b"nosniff"),
                    (b"x-frame-options", b"DENY"),
                    (b"referrer-policy", b"same-origin"),
                    (b"cross-origin-resource-policy", b"same-origin"),
                ]
                if private:
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def _refusal(self, request: Request) -> Response | None:
        guard = self.guard
        host = (request.headers.get("host") or "").rsplit(":", 1)[0]
        if guard.loopback and host not in LOOPBACK_NAMES:
            return PlainTextResponse("This page answers only to its own address.", 421)
        given = request.query_params.get("token")
        if given is not None:
            if not hmac.compare_digest(given.encode(), guard.token.encode()):
                return PlainTextResponse(_ASK_FOR_TOKEN, 403)
            # The token leaves the address at once (history, screenshots), kept in a cookie.
            kept = [(k, v) for k, v in request.query_params.multi_items() if k != "token"]
            target = URL(path=request.url.path, query=urlencode(kept))
            response = RedirectResponse(str(target), 303)
            response.set_cookie(
                guard.cookie_name, guard.token, httponly=True, samesite="strict", path="/"
            )
            return response
        needs_token = not guard.loopback or request.url.path.startswith(PRIVATE_PREFIXES)
        if needs_token and not guard.authenticated(request):
            return PlainTextResponse(_ASK_FOR_TOKEN, 403)
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            origin = request.headers.get("origin")
            if (
                origin is not None
                and origin != f"{request.url.scheme}://{request.headers.get('host')}"
            ):
                return PlainTextResponse("Requests from other sites are refused.", 403)
        return None


_ASK_FOR_TOKEN = (
    "This page needs the address selfkind printed when it started (the one with ?token=...)."
    " Open that address once; the browser remembers it until the server stops."
)


async def check_csrf(request: Request) -> bool:
    """Whether a state-changing request carries the page's CSRF token (header or form)."""
    guard: Guard = request.app.state.guard
    given = request.headers.get(CSRF_HEADER)
    if given is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()
        value = form.get(CSRF_FIELD)
        given = value if isinstance(value, str) else None
    return given is not None and guard.csrf_ok(given)
