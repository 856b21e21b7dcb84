"""Which Arazzo minor version a document declares, and the structural rules that follow from it.

Each document is read by the rules of the minor version its ``arazzo`` field names (1.0.1 §4.8.1 and 1.1.0:
tooling SHOULD NOT distinguish patch versions): ``1.0.x`` by the 1.0 schema, grammar and rules, ``1.1.x`` by
the official 1.1 schema and the 1.1 rules. Any other version is refused at ``/arazzo``.

A 1.0 document that uses a 1.1-only feature gets one problem per use, at the feature's location, naming the
feature and saying how to move on (declare ``arazzo: 1.1.0``; ``totpflow upgrade DOC`` rewrites the document).
The 1.0 schema's own complaints about those places (an unknown field, a value outside the 1.0 enum) are
replaced by that message. Objects shaped like a 1.1 Selector Object in a 1.0 parameter value or payload are
literals in 1.0; they are accepted with a warning."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from totpflow.arazzo.document.schema import location_key, schema_problems
from totpflow.arazzo.errors import DocumentError, LoadError
from totpflow.arazzo.expressions import pointer

_MINORS = {"1.0": re.compile(r"^1\.0\.\d+(-.+)?$"), "1.1": re.compile(r"^1\.1\.\d+(-.+)?$")}
SUPPORTED = "1.0.x and 1.1.x"
UPGRADE_HINT = "declare 'arazzo: 1.1.0' (`totpflow upgrade DOC` rewrites a 1.0 document as 1.1)"

_STEP_FIELDS = {
    "channelPath": "an AsyncAPI step ('channelPath')",
    "action": "an AsyncAPI step ('action')",
    "correlationId": "an AsyncAPI step ('correlationId')",
    "timeout": "a step 'timeout'",
    "dependsOn": "a step-level 'dependsOn'",
}
_NEW_VERSIONS = ("rfc9535", "xpath-31", "rfc6901")
_SELECTOR_FIELDS = frozenset(("context", "selector", "type"))


# (bool before int: a boolean is an int to isinstance; ruamel's round-trip list is a list)
_KINDS = ((list, "a list"), (str, "text"), (bool, "a boolean"), (int, "a number"), (float, "a number"))


def document_root(data: object) -> dict[str, Any]:
    """``data`` (a parsed document) when it is a mapping; ``LoadError`` at the root otherwise, saying the
    document is empty when it holds nothing."""
    if data is None:
        raise LoadError("", "the document is empty: an Arazzo document is a mapping with an 'arazzo' field")
    if not isinstance(data, dict):
        kind = next((name for kind, name in _KINDS if isinstance(data, kind)), type(data).__name__)
        raise LoadError("", f"an Arazzo document is a mapping, not {kind}")
    return data


def minor_version(data: dict[str, Any]) -> str:
    """``"1.0"`` or ``"1.1"``; ``LoadError`` at the root when the ``arazzo`` field is missing, at ``/arazzo``
    for a version that is not supported."""
    if "arazzo" not in data:
        raise LoadError(
            "", f"the required field 'arazzo' is missing: declare the Arazzo version ({SUPPORTED})"
        )
    version = data.get("arazzo")
    if isinstance(version, str):
        for minor, pattern in _MINORS.items():
            if pattern.match(version):
                return minor
    raise LoadError(
        "/arazzo", f"unsupported Arazzo version {version!r}: this runner reads {SUPPORTED} documents"
    )


def structural_problems(data: dict[str, Any], minor: str) -> tuple[list[DocumentError], list[str]]:
    """(problems, warnings) of ``data``: the schema of ``minor`` and, for 1.0, the 1.1-only features."""
    if minor != "1.0":
        return schema_problems(data, minor), []
    warnings = [f"{location}: {message}" for location, message in _selector_literals(data)]
    problems = schema_problems(data, minor)
    # The 1.0 schema refuses every 1.1-only feature, so a document it accepts uses none: the walk over the
    # whole document is needed only to explain a refusal.
    features = list(newer_features(data)) if problems else []
    if not features:
        return problems, warnings
    feature_problems = [
        DocumentError(
            location,
            f"{what} is an Arazzo 1.1 feature, but the document declares arazzo "
            f"{data.get('arazzo')}: {UPGRADE_HINT}",
        )
        for location, what in features
    ]
    explained = [location for location, _ in features]
    kept = [problem for problem in problems if not _explained_by(problem.location, explained)]
    merged = sorted([*feature_problems, *kept], key=lambda problem: location_key(problem.location))
    return merged, warnings


def _explained_by(location: str, features: list[str]) -> bool:
    """A schema problem at a 1.1 feature, under it, or on the object that holds it."""
    for feature in features:
        parent = feature.rpartition("/")[0]
        if location in (feature, parent) or location.startswith(feature + "/"):
            return True
    return False


def newer_features(data: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(location, description) of every 1.1-only feature used in ``data`` (read as a 1.0 document)."""
    if "$self" in data:
        yield "/$self", "'$self'"
    for index, source in _items(data.get("sourceDescriptions")):
        if source.get("type") == "asyncapi":
            yield f"/sourceDescriptions/{index}/type", "an AsyncAPI source description"
    components = data.get("components") if isinstance(data.get("components"), dict) else {}
    assert isinstance(components, dict)
    for name, parameter in _mapping(components.get("parameters")):
        yield from _parameter(parameter, "/components/parameters" + pointer.join([name]))
    for kind in ("successActions", "failureActions"):
        for name, action in _mapping(components.get(kind)):
            yield from _action(action, f"/components/{kind}" + pointer.join([name]))
    for w_index, workflow in _items(data.get("workflows")):
        at = f"/workflows/{w_index}"
        yield from _parameters(workflow.get("parameters"), at + "/parameters")
        for kind in ("successActions", "failureActions"):
            for index, action in _items(workflow.get(kind)):
                yield from _action(action, f"{at}/{kind}/{index}")
        yield from _outputs(workflow.get("outputs"), at + "/outputs")
        for s_index, step in _items(workflow.get("steps")):
            yield from _step(step, f"{at}/steps/{s_index}")


def _step(step: dict[str, Any], at: str) -> Iterator[tuple[str, str]]:
    for field_name, what in _STEP_FIELDS.items():
        if field_name in step:
            yield f"{at}/{field_name}", what
    yield from _parameters(step.get("parameters"), at + "/parameters")
    body = step.get("requestBody")
    if isinstance(body, dict):
        for index, replacement in _items(body.get("replacements")):
            if "targetSelectorType" in replacement:
                yield f"{at}/requestBody/replacements/{index}/targetSelectorType", "'targetSelectorType'"
            if is_selector(replacement.get("value")):
                yield f"{at}/requestBody/replacements/{index}/value", "a Selector Object"
    yield from _criteria(step.get("successCriteria"), at + "/successCriteria")
    for kind in ("onSuccess", "onFailure"):
        for index, action in _items(step.get(kind)):
            yield from _action(action, f"{at}/{kind}/{index}")
    yield from _outputs(step.get("outputs"), at + "/outputs")


def _parameters(items: Any, at: str) -> Iterator[tuple[str, str]]:
    for index, parameter in _items(items):
        yield from _parameter(parameter, f"{at}/{index}")


def _parameter(parameter: Any, at: str) -> Iterator[tuple[str, str]]:
    if isinstance(parameter, dict) and parameter.get("in") in ("querystring", "channel"):
        yield f"{at}/in", f"'in: {parameter['in']}'"


def _action(action: Any, at: str) -> Iterator[tuple[str, str]]:
    if not isinstance(action, dict):
        return
    if "parameters" in action:
        yield f"{at}/parameters", "a success or failure action's 'parameters'"
    yield from _criteria(action.get("criteria"), at + "/criteria")


def _criteria(items: Any, at: str) -> Iterator[tuple[str, str]]:
    for index, criterion in _items(items):
        kind = criterion.get("type")
        version = kind.get("version") if isinstance(kind, dict) else criterion.get("version")
        name = kind.get("type") if isinstance(kind, dict) else kind
        where = f"{at}/{index}/type"
        if name == "jsonpointer":
            yield where, "the 'jsonpointer' expression type"
        elif version in _NEW_VERSIONS:
            yield (
                where + ("/version" if isinstance(kind, dict) else ""),
                f"expression type version {version!r}",
            )


def _outputs(outputs: Any, at: str) -> Iterator[tuple[str, str]]:
    for name, value in _mapping(outputs):
        if is_selector(value):
            yield at + pointer.join([name]), "a Selector Object as an output"


def _selector_literals(data: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """Selector-shaped objects in 1.0 parameter values and payloads: literals in 1.0. (Run on every load of
    a 1.0 document, so locations are built only for what is found.)"""
    message = "this object would be a Selector Object in Arazzo 1.1; in a 1.0 document it is a literal value"
    for w_index, workflow in _items(data.get("workflows")):
        for s_index, step in _items(workflow.get("steps")):
            parameters = step.get("parameters")
            for index, parameter in enumerate(parameters if isinstance(parameters, list) else ()):
                if isinstance(parameter, dict) and is_selector(parameter.get("value")):
                    yield f"/workflows/{w_index}/steps/{s_index}/parameters/{index}/value", message
            body = step.get("requestBody")
            if isinstance(body, dict) and _contains_selector(body.get("payload")):
                at = f"/workflows/{w_index}/steps/{s_index}/requestBody/payload"
                for location in selectors_in(body.get("payload"), at):
                    yield location, message


def _contains_selector(value: Any) -> bool:
    """``selectors_in`` without building locations: most payloads hold none."""
    if isinstance(value, dict):
        return is_selector(value) or any(_contains_selector(item) for item in value.values())
    if isinstance(value, list):
        return any(_contains_selector(item) for item in value)
    return False


def selectors_in(value: Any, at: str) -> Iterator[str]:
    """The locations under ``at`` of every Selector Object-shaped object in ``value``."""
    if is_selector(value):
        yield at
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from selectors_in(item, at + pointer.join([key]))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from selectors_in(item, f"{at}/{index}")


def is_selector(value: Any) -> bool:
    """A Selector Object: ``context``, ``selector`` and ``type``, nothing else but ``x-`` extensions."""
    return (
        isinstance(value, dict)
        and _SELECTOR_FIELDS <= value.keys()
        and all(key in _SELECTOR_FIELDS or (isinstance(key, str) and key.startswith("x-")) for key in value)
    )


def _items(items: Any) -> Iterator[tuple[int, dict[str, Any]]]:
    if isinstance(items, list):
        for index, item in enumerate(items):
            if isinstance(item, dict):
                yield index, item


def _mapping(items: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(items, dict):
        yield from ((str(key), value) for key, value in items.items())
