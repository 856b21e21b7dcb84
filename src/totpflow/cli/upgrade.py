"""``totpflow upgrade DOC [-o OUT | --in-place]``: rewrite an Arazzo 1.0.x document as 1.1.0.

Comments, key order and quoting are kept where YAML allows. The rewritten document goes to standard output,
to ``-o OUT`` or back into DOC (``--in-place``); what was changed and what could not be converted (each with
its JSON Pointer location) go to standard error. Exit code 0 when the result is a valid 1.1 document, 1 when
it was written but something could not be converted, 2 when DOC cannot be read or does not declare a 1.0.x
version (nothing is written then).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from totpflow.cli._messages import err as _err


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "upgrade",
        help="rewrite an Arazzo 1.0.x document as 1.1.0, keeping comments and order",
        description="Rewrite an Arazzo 1.0.x document as 1.1.0 (comments, key order and quoting kept where "
        "YAML allows) and list anything that could not be converted.",
    )
    parser.add_argument("document", metavar="DOC", help="path of the Arazzo 1.0.x document (YAML or JSON)")
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "-o", "--output", metavar="OUT", help="write the 1.1.0 document here (default: stdout)"
    )
    where.add_argument("--in-place", action="store_true", help="rewrite DOC itself")
    parser.add_argument("-q", "--quiet", action="store_true", help="do not list the changes made")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from totpflow.arazzo.document.reader import absolute_url
    from totpflow.arazzo.errors import ArazzoError, DocumentError, DocumentInvalid
    from totpflow.arazzo.upgrade import upgrade_text

    path = Path(args.document)
    try:
        raw = path.read_bytes()
        # YAML reads every line break as LF (YAML 1.2 §5.4); given CRLF, the round trip lost blank lines
        text = raw.decode("utf-8-sig").replace("\r\n", "\n")
    except (OSError, UnicodeDecodeError) as exc:
        _err(f"error: {args.document}: {getattr(exc, 'strerror', None) or exc}")
        return 2
    try:
        upgraded = upgrade_text(text, absolute_url(str(path)))
    except DocumentInvalid as exc:  # not a 1.0 document's shape: every problem where it is written
        for problem in exc.problems:
            _err(f"{problem.location or '/'}: {problem.message}")
        return 2
    except DocumentError as exc:
        _err(f"{exc.location or '/'}: {exc.message}")
        return 2
    except ArazzoError as exc:
        _err(f"error: {exc}")
        return 2
    target = args.document if args.in_place else args.output
    written = _as_written(upgraded.text, raw)
    try:
        if target:
            Path(target).write_bytes(written)
        else:
            sys.stdout.flush()
            sys.stdout.buffer.write(written)
            sys.stdout.buffer.flush()
    except OSError as exc:
        _err(f"error: {exc.filename or target}: {exc.strerror or exc}")
        return 2
    if not args.quiet:
        for change in upgraded.changes:
            _err(f"changed {change}")
    for problem in upgraded.not_converted:
        _err(f"not converted: {problem.location or '/'}: {problem.message}")
    count = len(upgraded.not_converted)
    verdict = (
        "upgraded to Arazzo 1.1.0"
        if not count
        else f"upgraded to Arazzo 1.1.0 with {count} thing{'s' if count != 1 else ''} left to fix by hand"
    )
    _err(f"{args.document}: {verdict}")
    return 1 if count else 0


def _as_written(text: str, original: bytes) -> bytes:
    """The upgraded ``text`` in the original's conventions, so that ``--in-place`` changes only what the
    upgrade changed: its line endings (CRLF when the original's lines end so) and its UTF-8 byte-order
    mark."""
    if original.count(b"\r\n") > original.count(b"\n") // 2:
        text = text.replace("\r\n", "\n").replace("\n", "\r\n")
    bom = b"\xef\xbb\xbf" if original.startswith(b"\xef\xbb\xbf") else b""
    return bom + text.encode("utf-8")
