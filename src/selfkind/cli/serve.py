"""serve: the local web page (library, player, reflections, journal) in a browser."""

from __future__ import annotations

import argparse
import socket
import sys
import threading
import webbrowser
from pathlib import Path

from ..errors import SetupError, UsageError
from .common import add_journal_option, add_recognizer_options, printable

DEFAULT_PORT = 8765


def add_serve_parser(commands: argparse._SubParsersAction) -> None:
    serve = commands.add_parser(
        "serve",
        help="open selfkind in a web browser, on this computer only",
        description="Start a local web page for the practice library, the player with"
        " captions, spoken or written reflections and the journal. It answers on 127.0.0.1"
        " unless --host says otherwise; then every request needs the token printed with the"
        " address. Stop it with Ctrl-C.",
    )
    serve.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})"
    )
    serve.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to answer on (default 127.0.0.1, this computer only; 0.0.0.0 lets"
        " other devices on your network in, with the token)",
    )
    serve.add_argument("--open", action="store_true", help="open the page in the web browser")
    serve.add_argument(
        "--scripts", help="a folder of your own scripts (.md) to show in the library"
    )
    add_journal_option(serve)
    add_recognizer_options(serve)
    serve.set_defaults(run="serve:cmd_serve")


def cmd_serve(args: argparse.Namespace) -> int:
    try:
        import uvicorn

        from ..web.app import Settings, create_app
        from ..web.security import Guard
    except ImportError as err:
        raise SetupError(
            f"the web page needs {err.name}; install it with: pip install 'selfkind[web]'"
        ) from None
    from ..journal.keep import open_journal as open_and_recover
    from ..listen.recognizers import open_recognizer
    from .listen import check_recognizer

    if not 0 < args.port < 65536:
        raise UsageError("--port", "give a port from 1 to 65535")
    own = Path(args.scripts) if args.scripts else None
    if own is not None and not own.is_dir():
        raise UsageError("--scripts", f"'{args.scripts}' is not a folder")
    journal_path = Path(args.journal) if args.journal else None
    check_recognizer(args.engine, args.model)
    # Recordings cut off last time are kept before anyone new is heard.
    open_and_recover(
        journal_path, on_problem=lambda m: print(f"selfkind: {m}", file=sys.stderr)
    ).close()
    listening = _listen(args.host, args.port)
    guard = Guard(args.host, args.port)
    engine, model = args.engine, args.model
    app = create_app(
        Settings(guard, journal_path, own, make_recognizer=lambda: open_recognizer(engine, model))
    )
    address = guard.address()
    if guard.loopback:
        print(
            f"selfkind is at {printable(address)} (this computer only). Ctrl-C stops it.",
            flush=True,
        )
    else:
        print(
            f"selfkind is at {printable(address)} and answers on {printable(args.host)}: anyone"
            " on your network who has this address, token included, can use it and read your"
            " journal. Ctrl-C stops it.",
            flush=True,
        )
    if args.open:
        threading.Timer(1.0, webbrowser.open, (address,)).start()
    config = uvicorn.Config(
        app, log_level="warning", access_log=False, server_header=False, proxy_headers=False
    )
    server = uvicorn.Server(config)
    try:
        server.run(sockets=[listening])
    finally:
        app.state.renderer.close()  # reflections were kept as the server stopped
        listening.close()
    return 0


def _listen(host: str, port: int) -> socket.socket:
    """The listening socket, bound before the address is printed: a port in use is said
    in one line, not after the address has been shown."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as err:
        raise UsageError(
            "--host", f"'{host}' is not an address of this computer ({err.strerror})"
        ) from None
    listening = socket.socket(family, kind, proto)
    listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listening.bind(address)
        listening.listen(128)
    except OSError as err:
        listening.close()
        raise SetupError(
            f"cannot listen on {host}:{port} ({err.strerror}); choose another with --port"
        ) from None
    return listening
