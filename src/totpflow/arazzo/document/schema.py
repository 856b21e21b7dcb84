"""Structural validation of an Arazzo document against the JSON Schema (Draft 2020-12) of its minor version.

1.1.x documents are checked with the official 1.1 schema (``schema-1.1.yaml``, unchanged). For 1.0.x documents
the schema is the maintained ``v1.0-dev`` version (``schema-1.0.yaml`` beside this module), which matches the
1.0.1 text on failure actions (OAI/Arazzo-Specification#341: ``retry`` needs no target and no ``retryAfter``),
with two marked amendments: a Criterion's ``type`` may be a Criterion Expression Type Object as the spec text
says (OAI #336), and ``type: simple`` needs no ``context`` (OAI PR #499, as in the 1.1 schema). Both schemas
are widened where they load (``_amended``) to the value types the text gives: any JSON value for a
replacement ``value`` (both versions) and a parameter ``value`` (1.1, OAI #559).
The validator is compiled once per process, on first use. Every violation is reported, each at the RFC 6901
JSON Pointer of the offending node; a failed ``oneOf``/``anyOf`` is explained by the errors of the alternative
that came closest instead of by one summary line.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from totpflow.arazzo.errors import DocumentError
from totpflow.arazzo.expressions import pointer

if TYPE_CHECKING:
    from jsonschema import ValidationError
    from jsonschema.protocols import Validator

_MAX_VALUE_CHARS = 60


@cache
def _validator(minor: str, *, official: bool = False) -> Validator:
    import yaml
    from jsonschema import Draft202012Validator

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    schema = yaml.load(_schema_text(minor), Loader=loader)
    return Draft202012Validator(schema if official else _amended(schema, minor))


# Any JSON value; in 1.1 an object shaped like a Selector Object (exactly `context`, `selector`, `type`, plus
# `x-` extensions, as `versions.is_selector` reads it) must be a valid one, any other object is a literal.
_SELECTOR_SHAPED = {
    "required": ["context", "selector", "type"],
    "propertyNames": {"anyOf": [{"enum": ["context", "selector", "type"]}, {"pattern": "^x-"}]},
}
_ANY_VALUE_1_1 = {
    "oneOf": [
        {"type": ["string", "boolean", "array", "number", "null"]},
        {"$ref": "#/$defs/selector-object"},
        {"type": "object", "not": _SELECTOR_SHAPED},
    ]
}


def _amended(schema: dict[str, Any], minor: str) -> dict[str, Any]:
    """The official schema with the value types the spec text gives (reference §7 item 4, decided in
    docs/conformance.md): a Parameter Object's ``value`` (1.1: no plain object, OAI issue #559) and a Payload
    Replacement Object's ``value`` (1.0 and 1.1: a string or, in 1.1, a Selector; the text says Any, and its
    own example is ``value: 10``) take any JSON value. Nothing else is widened."""
    definitions = schema["$defs"]
    replacement = definitions["payload-replacement-object"]["properties"]
    if minor == "1.0":
        replacement["value"] = {"description": replacement["value"]["description"]}
        return schema
    for owner in ("parameter-object", "payload-replacement-object"):
        value = definitions[owner]["properties"]["value"]
        definitions[owner]["properties"]["value"] = {"description": value["description"], **_ANY_VALUE_1_1}
    return schema


def schema_problems(data: Any, minor: str = "1.0") -> list[DocumentError]:
    """Every JSON Schema violation of ``data``, in document order, without duplicates.

    A document found valid once is remembered (by a hash of its content, the schema and this version of
    totpflow) in the cache directory of ``reader``, so running the same unchanged workflow again skips the
    validator (and the cost of importing ``jsonschema``)."""
    marker = _valid_marker(data, minor)
    if marker is not None and marker.exists():
        return []
    problems = _problems(data, minor)
    if not problems and marker is not None:
        try:
            marker.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            marker.touch()
        except OSError:
            pass  # only a slower next run
    return problems


def official_schema_problems(data: Any, minor: str) -> list[DocumentError]:
    """Every violation of the schema as published, without the widening of ``_amended``: what other tools
    that check a document with the official schema refuse."""
    return _problems(data, minor, official=True)


def _valid_marker(data: Any, minor: str) -> Path | None:
    import hashlib

    import msgspec

    from totpflow import __version__
    from totpflow.arazzo.document.reader import cache_dir

    directory = cache_dir()
    if directory is None:
        return None
    try:
        content = msgspec.json.encode(data, order="deterministic")
    except (TypeError, msgspec.EncodeError):
        return None
    digest = hashlib.blake2b(content, digest_size=20, key=f"arazzo-{minor}/{__version__}".encode())
    digest.update(_schema_text(minor).encode())
    digest.update(repr(_ANY_VALUE_1_1).encode())  # the amendments (`_amended`) are part of the schema
    return directory / "valid" / digest.hexdigest()


@cache
def _schema_text(minor: str) -> str:
    # The file beside this module, read directly: `importlib.resources` (and the `zipfile` it imports) would
    # add to the start-up of every run, which hashes this text even when the validator is skipped.
    return Path(__file__).with_name(f"schema-{minor}.yaml").read_text(encoding="utf-8")


def _problems(data: Any, minor: str, *, official: bool = False) -> list[DocumentError]:
    problems: dict[tuple[str, str], DocumentError] = {}
    unevaluated: list[tuple[str, list[str], str]] = []
    for error in _validator(minor, official=official).iter_errors(data):
        for leaf in _leaves(error):
            location = pointer.join(leaf.absolute_path)
            message = _describe(leaf)
            if leaf.validator == "unevaluatedProperties" and isinstance(leaf.instance, dict):
                names = [name for name in leaf.instance if repr(name) in leaf.message]
                unevaluated.append((location, names, message))
                continue
            problems.setdefault((location, message), DocumentError(location, message))
    for location, names, message in unevaluated:
        # A field whose own value failed (say a malformed `type`) is also "unevaluated" by the enclosing
        # object; report it once, at the field. When an object failed otherwise (a `oneOf` of step kinds, a
        # field's value), fields the schema knows are "unevaluated" only because that failure discarded
        # them: then only names the schema declares nowhere (typos) are reported.
        if all(
            any(key[0].startswith(f"{location}/{pointer.escape(name)}") for key in problems) for name in names
        ):
            continue
        failed_otherwise = any(key[0] == location or key[0].startswith(location + "/") for key in problems)
        if failed_otherwise and all(name in _declared_names(minor) for name in names):
            continue
        problems.setdefault((location, message), DocumentError(location, message))
    return sorted(problems.values(), key=lambda problem: location_key(problem.location))


@cache
def _declared_names(minor: str) -> frozenset[str]:
    """Every field name some object of the schema declares."""
    names: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            properties = node.get("properties")
            if isinstance(properties, dict):
                names.update(properties)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(_validator(minor).schema)
    return frozenset(names)


def location_key(location: str) -> list[tuple[int, str]]:
    """Sort key putting JSON Pointers in document order (array indexes numerically)."""
    return [(0, f"{int(part):09d}") if part.isdigit() else (1, part) for part in location.split("/")]


def _leaves(error: ValidationError) -> Iterator[ValidationError]:
    """The errors that explain ``error``: for oneOf/anyOf, those of the alternative that went deepest."""
    if error.validator in ("oneOf", "anyOf") and error.context:
        if all(sub.validator == "required" and not sub.relative_path for sub in error.context):
            yield error  # "one of these fields is required": one message says it best
            return
        branches: dict[int, list[ValidationError]] = {}
        for sub in error.context:
            branches.setdefault(sub.schema_path[0] if sub.schema_path else 0, []).append(sub)  # type: ignore[arg-type]
        best = max(branches.values(), key=_branch_rank)
        for sub in best:
            yield from _leaves(sub)
        return
    yield error


def _branch_rank(errors: list[ValidationError]) -> tuple[int, int]:
    # The alternative whose errors lie deepest in the instance matched the most structure; among equals, fewer
    # errors. A failed "type" check at the root of the alternative means it was the wrong alternative.
    depth = max(len(sub.absolute_path) for sub in errors)
    wrong_type = any(sub.validator == "type" and len(sub.relative_path) == 0 for sub in errors)
    return (depth - (1 if wrong_type else 0), -len(errors))


def _describe(error: ValidationError) -> str:
    validator = error.validator
    expected: Any = error.validator_value
    if validator == "required" and expected == ["context"] and "then" in error.schema_path:
        return "'context' is required when 'type' is given"
    if validator == "dependentRequired" and isinstance(expected, dict) and isinstance(error.instance, dict):
        given = [name for name in expected if name in error.instance]
        missing = [need for name in given for need in expected[name] if need not in error.instance]
        if given and missing:
            return f"{missing[0]!r} is required when {given[0]!r} is given"
    if validator == "required":
        instance: Any = error.instance if isinstance(error.instance, dict) else {}
        missing = [name for name in expected if name not in instance]
        return f"missing required field{'s' if len(missing) != 1 else ''} {', '.join(map(repr, missing))}"
    if validator in ("oneOf", "anyOf"):
        fields = _required_alternatives(expected)
        if error.context:  # no alternative matched
            return (
                f"one of {', '.join(fields)} is required" if fields else "matches none of the allowed forms"
            )
        if fields:
            return f"only one of {', '.join(fields)} is allowed"
        return "matches more than one of the allowed forms"
    if validator == "unevaluatedProperties":
        return error.message.replace("Unevaluated properties are not allowed", "unknown field(s)")
    if validator == "uniqueItems":
        return "the list contains duplicate items"
    if validator == "const":
        return f"must be {expected!r}"
    if validator == "enum":
        return f"{_short(error.instance)} is not one of {', '.join(map(repr, expected))}"
    if validator == "type":
        return f"{_short(error.instance)} is not of type {expected!r}"
    if validator == "pattern":
        return f"{_short(error.instance)} does not match {expected!r}"
    message = error.message
    return message if len(message) <= 200 else f"{validator} failed"


def _required_alternatives(alternatives: Any) -> list[str]:
    names: list[str] = []
    for alternative in alternatives if isinstance(alternatives, list) else ():
        required = alternative.get("required") if isinstance(alternative, dict) else None
        if not (isinstance(required, list) and len(required) == 1 and len(alternative) == 1):
            return []
        names.append(required[0])
    return names


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _MAX_VALUE_CHARS else text[: _MAX_VALUE_CHARS - 3] + "..."
