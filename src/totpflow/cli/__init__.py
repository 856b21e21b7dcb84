"""The ``totpflow`` command: parse arguments, call a library, print, return an exit code.

Each subcommand lives in its own module exposing ``register(subparsers)``; a module imports its heavy
dependencies inside the handler so that ``totpflow --help`` and ``totpflow run`` start fast.

Exit codes: 0 success, 1 the job ran and failed (e.g. a workflow failed), 2 bad command line or bad input.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from typing import Any

from totpflow import __version__

SUBCOMMANDS = (
    "serve",
    "project",
    "users",
    "sessions",
    "keys",
    "rbac",
    "backup",
    "run",
    "validate",
    "upgrade",
    "enroll",
)


class _Parser(argparse.ArgumentParser):
    """An argument parser that reports an argument it does not know itself, with its own usage line.
    argparse leaves a subcommand's unknown arguments to the top-level parser, whose usage names none of
    that subcommand's options; every subcommand's parser is of this class too (``add_subparsers`` makes
    its parsers of the class of the parser it belongs to)."""

    def parse_known_args(self, args: Any = None, namespace: Any = None) -> Any:
        parsed, extras = super().parse_known_args(args, namespace)
        if extras:
            self.error(f"unrecognized arguments: {' '.join(extras)}")
        return parsed, extras


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The whole command line; with ``command`` (a subcommand's name) only that subcommand is registered,
    so running it does not import the modules of the others (``serve`` alone pulls in ``tempfile``,
    ``project`` the ``json`` module)."""
    parser = _Parser(
        prog="totpflow",
        description=(
            "Self-hosted TOTP enrollment: a Stytch-compatible server and an Arazzo 1.0 and 1.1 runner."
        ),
    )
    parser.add_argument("--version", action="version", version=f"totpflow {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in (command,) if command in SUBCOMMANDS else SUBCOMMANDS:
        try:
            module = importlib.import_module(f"totpflow.cli.{name}")
        except ModuleNotFoundError as exc:  # a subcommand not built into this installation
            if exc.name != f"totpflow.cli.{name}":
                raise
            continue
        module.register(subparsers)
    return parser


def _without_httpx_command_line() -> None:
    """httpx imports its own command-line client (click, rich, pygments: ~35 ms of start-up) whenever those
    packages are installed; totpflow never uses it. A ``None`` entry in ``sys.modules`` makes that optional
    import fail at once, and httpx falls back to its stub ``httpx.main``."""
    sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]


def main(argv: Sequence[str] | None = None) -> int:
    _without_httpx_command_line()
    arguments = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(arguments[0] if arguments else None)
    args = parser.parse_args(arguments)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(handler(args))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # whoever read the output went away (`| head`, a closed pipe): what was done stays done, and no
        # traceback follows, nor another one when the interpreter flushes stdout at exit
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except UnicodeEncodeError as exc:
        # an argument or setting holding bytes that are not UTF-8 (Python keeps them as the lone surrogates
        # U+DC80-U+DCFF) reached something that writes text; any other encoding failure is a defect
        if not all("\udc80" <= char <= "\udcff" for char in exc.object[exc.start : exc.end]):
            raise
        print(
            f"totpflow {arguments[0]}: a value given is not valid UTF-8 text "
            "(an argument or environment variable holds bytes that are not UTF-8)",
            file=sys.stderr,
        )
        return 2
