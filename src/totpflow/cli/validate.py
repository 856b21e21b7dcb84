"""``totpflow validate DOC [--json] [--skip-sources]``: check an Arazzo document and its source descriptions.

With ``--skip-sources`` only the document itself is checked (schema and version rules, expressions, internal
references), without loading its source descriptions.

Prints every problem as ``<location>: <message>`` (JSON Pointer into the document), then the warnings; with
``--json`` one object ``{"valid", "document", "problems": [{"location", "message"}], "warnings"}``. Exit code
0 when the document is valid (warnings allowed), 2 when it is invalid or cannot be read.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "validate",
        help="check an Arazzo document: schema, ids, expressions, and that every operation resolves",
        description="Validate an Arazzo 1.0.x or 1.1.x document and resolve its operations in its sources.",
    )
    parser.add_argument("document", metavar="DOC", help="path or http(s) URL of the Arazzo document")
    parser.add_argument("--json", action="store_true", help="print the result as one JSON object")
    parser.add_argument(
        "--skip-sources",
        action="store_true",
        help="check the document only (schema, version rules, expressions, internal references); "
        "do not load its source descriptions",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    problems, warnings, summary = _validate(args.document, skip_sources=args.skip_sources)
    if args.json:
        result = {
            "valid": not problems,
            "document": args.document,
            "problems": [{"location": location, "message": message} for location, message in problems],
            "warnings": warnings,
        }
        sys.stdout.write(json.dumps(result, indent=2) + "\n")
    else:
        lines = [f"{location or '/'}: {message}" for location, message in problems]
        lines += [f"warning: {warning}" for warning in warnings]
        sys.stdout.write("".join(line + "\n" for line in lines))
        count = len(problems)
        verdict = f"invalid, {count} problem{'s' if count != 1 else ''}" if problems else f"valid ({summary})"
        sys.stderr.write(f"{args.document}: {verdict}\n")
    return 2 if problems else 0


def _validate(ref: str, *, skip_sources: bool = False) -> tuple[list[tuple[str, str]], list[str], str]:
    """(problems as (location, message), warnings, summary of a valid document)."""
    from totpflow.arazzo.document import load_document
    from totpflow.arazzo.errors import ArazzoError, DocumentError, DocumentInvalid
    from totpflow.arazzo.sources import SourceSet, check_sources

    try:
        document = load_document(ref, references_as_warnings=skip_sources)
        if skip_sources:
            return [], list(document.warnings), _summary(document, "sources not loaded")
        sources = SourceSet.load(document)
        report = check_sources(document, sources)
    except DocumentInvalid as exc:
        return [(p.location, p.message) for p in exc.problems], list(exc.warnings), ""
    except DocumentError as exc:
        return [(exc.location, exc.message)], [], ""
    except ArazzoError as exc:
        return [("", str(exc))], [], ""
    except Exception as exc:  # never a traceback: report what went wrong, briefly
        return [("", f"unexpected {type(exc).__name__}: {exc}")], [], ""
    problems = [(p.location, p.message) for p in report.problems]
    summary = _summary(document, f"{len(sources.sources())} source(s)")
    return problems, [*document.warnings, *report.warnings], summary


def _summary(document: Any, sources: str) -> str:
    steps = sum(len(workflow.steps) for workflow in document.workflows)
    return f"{len(document.workflows)} workflow(s), {steps} step(s), {sources}"
