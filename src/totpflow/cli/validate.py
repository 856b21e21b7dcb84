"""``totpflow validate DOC [--json] [--skip-sources]``: check an Arazzo document and its source descriptions.

The checks run in rounds (``totpflow.arazzo.validation``): the document is read, then checked against the
JSON Schema, then its semantics (ids, targets, and what every expression refers to: declared inputs, steps,
outputs), then its sources are read, then every operation is resolved in them. A round runs only once the
previous ones are clean, and reports every problem it finds. Each is printed as ``<location>: <message>``
(JSON Pointer into the document), then the warnings; with ``--json`` one object ``{"valid", "document",
"round", "problems": [{"location", "message"}], "warnings"}`` (``round`` is null for a valid document). Exit
code 0 when the document is valid (warnings allowed), 2 when it is invalid or cannot be read.

With ``--skip-sources`` only the document itself is checked (the first three rounds), without loading its
source descriptions; what expressions and steps refer to is then reported as warnings.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from totpflow.cli import _map_self


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "validate",
        help="check an Arazzo document: schema, ids, expressions, and that every operation resolves",
        description="Validate an Arazzo 1.0.x or 1.1.x document and resolve its operations in its sources. "
        "The checks run in rounds (schema, semantics, sources, operations); each round runs once the "
        "previous ones are clean and reports every problem it finds.",
    )
    parser.add_argument("document", metavar="DOC", help="path or http(s) URL of the Arazzo document")
    parser.add_argument("--json", action="store_true", help="print the result as one JSON object")
    parser.add_argument(
        "--skip-sources",
        action="store_true",
        help="check the document only (schema, version rules, expressions, internal references); "
        "do not load its source descriptions",
    )
    _map_self.add_option(parser.add_argument)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from totpflow.arazzo.printable import printable

    problem = _map_self.apply(args.map_self)
    if problem is not None:
        sys.stderr.write(f"totpflow validate: {printable(problem)}\n")
        return 2
    round_name, problems, warnings, summary = _validate(args.document, skip_sources=args.skip_sources)
    if args.json:
        result = {
            "valid": not problems,
            "document": args.document,
            "round": round_name,
            "problems": [{"location": location, "message": message} for location, message in problems],
            "warnings": warnings,
        }
        sys.stdout.write(json.dumps(result, indent=2) + "\n")
    else:
        lines = [f"{location or '/'}: {message}" for location, message in problems]
        lines += [f"warning: {warning}" for warning in warnings]
        sys.stdout.write("".join(printable(line) + "\n" for line in lines))  # shown, never obeyed
        count = len(problems)
        if problems:
            verdict = f"invalid, {count} problem{'s' if count != 1 else ''} ({round_name} round"
            later = _later_rounds(round_name)
            verdict += (
                f"; {', '.join(later)} follow once {'it is' if count == 1 else 'these are'} fixed)"
                if later
                else ")"
            )
        else:
            verdict = f"valid ({summary})"
        sys.stderr.write(f"{printable(args.document)}: {verdict}\n")
    return 2 if problems else 0


def _later_rounds(name: str | None) -> list[str]:
    from totpflow.arazzo.validation import ROUNDS

    names: list[str] = [round_name for round_name, _ in ROUNDS]
    return names[names.index(name) + 1 :] if name in names else []


def _validate(
    ref: str, *, skip_sources: bool = False
) -> tuple[str | None, list[tuple[str, str]], list[str], str]:
    """(round that found problems, problems as (location, message), warnings, summary of a valid document)."""
    from totpflow.arazzo.errors import ArazzoError
    from totpflow.arazzo.validation import validate

    try:
        validation = validate(ref, skip_sources=skip_sources)
    except ArazzoError as exc:
        return "read", [("", str(exc))], [], ""
    except Exception as exc:  # never a traceback: report what went wrong, briefly
        return "read", [("", f"unexpected {type(exc).__name__}: {exc}")], [], ""
    problems = [(p.location, p.message) for p in validation.problems]
    warnings = list(validation.warnings)
    document, sources = validation.document, validation.sources
    if document is None:
        return validation.round, problems, warnings, ""
    loaded = "sources not loaded" if sources is None else f"{len(sources.sources())} source(s)"
    steps = sum(len(workflow.steps) for workflow in document.workflows)
    return None, problems, warnings, f"{len(document.workflows)} workflow(s), {steps} step(s), {loaded}"
