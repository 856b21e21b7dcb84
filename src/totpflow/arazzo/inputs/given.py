"""Inputs given on the command line: ``--input NAME=VALUE`` (or a JSON object) and ``--inputs FILE``.

Every file is read first, then every ``--input``; a later value wins. Values from ``--input`` stay strings
here; the resolver coerces them to the schema's types (``inputs.coercion``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from totpflow.arazzo.errors import UsageError


def parse_input_option(text: str) -> tuple[str, str]:
    """``NAME=VALUE`` → (NAME, "VALUE")."""
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise UsageError("--input expects NAME=VALUE (or a JSON object)")
    return name, value


# The longest inputs file read (a device such as /dev/zero, or a file that keeps growing, stops here).
MAX_INPUTS_BYTES = 16 * 1024 * 1024


def load_inputs_file(path: str | Path) -> dict[str, Any]:
    """A JSON or YAML file with an object of input names to values at the top, read as documents are
    (``textdata``: YAML's JSON schema, no duplicate keys, aliases bounded), but never kept in the parse
    cache, as it may hold secrets. Its problems name a line and column, never a value."""
    from totpflow.arazzo.errors import LoadError
    from totpflow.arazzo.textdata import parse_text, read_at_most

    file = Path(path)
    try:
        content = read_at_most(file, MAX_INPUTS_BYTES)
        if content is None:
            raise UsageError(f"--inputs {file}: larger than {MAX_INPUTS_BYTES} bytes")
        text = content.decode("utf-8")
    except OSError as exc:
        raise UsageError(f"--inputs {file}: cannot read ({exc.strerror})") from exc
    except UnicodeDecodeError:
        raise UsageError(f"--inputs {file}: not UTF-8 text") from None
    try:
        data = parse_text(text)
    except LoadError as exc:
        raise UsageError(f"--inputs {file}: not valid JSON or YAML: {exc.message}") from None
    if not isinstance(data, dict):
        raise UsageError(f"--inputs {file}: the top level must be an object of input names to values")
    return data


def merge_inputs(files: Sequence[str | Path] = (), options: Sequence[str] = ()) -> dict[str, Any]:
    """Every file, then every ``--input`` (``NAME=VALUE`` or a JSON object); later wins."""
    merged: dict[str, Any] = {}
    for file in files:
        merged.update(load_inputs_file(file))
    for option in options:
        if option.lstrip().startswith("{"):
            try:
                data = json.loads(option)
            except (ValueError, RecursionError):  # not JSON, an integer too long, nested too deeply
                raise UsageError("--input: a value starting with '{' must be a JSON object") from None
            if not isinstance(data, dict):
                raise UsageError("--input: a value starting with '{' must be a JSON object")
            merged.update(data)
        else:
            name, value = parse_input_option(option)
            merged[name] = value
    return merged
