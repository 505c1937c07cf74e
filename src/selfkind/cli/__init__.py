"""The ``selfkind`` command: the only place that prints, reads options or picks exit codes.
It parses, calls one library function per command, and prints.

Exit codes: 0 done; 1 something is missing on the machine or failed outside the user's files;
2 a bad script, file or option (``FILE:LINE:COL: what is wrong``); 130 stopped with Ctrl-C.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from ..errors import InputError, SelfkindError
from .common import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, error_text
from .parser import build_parser

__all__ = ["build_parser", "main", "run"]


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except InputError as err:
        print(error_text(err), file=sys.stderr)
        return EXIT_BAD_INPUT
    except SelfkindError as err:
        print(f"selfkind: {error_text(err)}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("\nStopped. Nothing half-finished was kept.", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (e.g. `selfkind practices | head`); that is not an error.
        sys.stderr.close()
        return EXIT_OK
    except OSError as err:
        # The machine refused something no library call foresaw (a folder removed under a
        # running render, say): one line, not a traceback.
        print(f"selfkind: {error_text(err)}", file=sys.stderr)
        return EXIT_FAILED


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
