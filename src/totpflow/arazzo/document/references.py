"""Resolve Reusable Objects (Arazzo 1.0.1 "Reusable Object") against the document's Components Object.

A Reusable Object is ``{reference: $components.parameters.x, value: …}``; for a parameter, ``value`` overrides
the referenced parameter's value. Components are scoped to their document: a step of document B never sees the
components of document A. Also parses the source-qualified forms ``$sourceDescriptions.<name>.<id>`` used by
``operationId``, ``workflowId``, ``goto`` and ``dependsOn``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import msgspec

from totpflow.arazzo.document.model import (
    ArazzoDocument,
    FailureAction,
    Parameter,
    ReusableRef,
    SuccessAction,
)
from totpflow.arazzo.errors import DocumentError

ComponentKind = Literal["inputs", "parameters", "successActions", "failureActions"]
COMPONENT_KINDS: tuple[ComponentKind, ...] = ("inputs", "parameters", "successActions", "failureActions")
_COMPONENTS = "$components."
_SOURCES = "$sourceDescriptions."


def component_reference(reference: str) -> tuple[ComponentKind, str] | None:
    """``$components.<kind>.<name>`` → (kind, name); None when the text has another shape.

    Component names may contain dots (``^[a-zA-Z0-9.\\-_]+$``), so only the first dot after the kind splits.
    """
    if not reference.startswith(_COMPONENTS):
        return None
    kind, _, name = reference[len(_COMPONENTS) :].partition(".")
    if kind not in COMPONENT_KINDS or not name:
        return None
    return kind, name


def source_qualified(reference: str) -> tuple[str, str] | None:
    """``$sourceDescriptions.<source>.<id>`` → (source, id); None for a plain id."""
    if not reference.startswith(_SOURCES):
        return None
    source, _, ident = reference[len(_SOURCES) :].partition(".")
    return (source, ident) if source and ident else None


def component_table(doc: ArazzoDocument, kind: ComponentKind) -> Mapping[str, object]:
    """The Components Object map of one kind (``inputs``, ``parameters``, ``successActions``, …)."""
    components = doc.components
    tables: dict[str, Mapping[str, object]] = {
        "inputs": components.inputs,
        "parameters": components.parameters,
        "successActions": components.success_actions,
        "failureActions": components.failure_actions,
    }
    return tables[kind]


def lookup_component(doc: ArazzoDocument, item: ReusableRef, kind: ComponentKind) -> object:
    """The component a Reusable Object names; DocumentError (at ``item.location``) when absent or of
    another kind."""
    parsed = component_reference(item.reference)
    if parsed is None or parsed[0] != kind:
        raise DocumentError(item.location, f"must be $components.{kind}.<name>, not {item.reference!r}")
    table = component_table(doc, kind)
    if parsed[1] not in table:
        raise DocumentError(item.location, f"no component {item.reference!r}")
    return table[parsed[1]]


def parameter_identity(name: str, in_: str | None) -> tuple[str, str | None]:
    """What a step's parameter replaces a workflow's (or an operation's) parameter by: (name, ``in``), a
    header name in any case (RFC 9110 §5.1), and any ``in: querystring`` parameter another, as it is the
    whole query component whatever its name."""
    if in_ == "querystring":
        return "", in_
    return (name.lower() if in_ == "header" else name), in_


def resolve_parameter(doc: ArazzoDocument, item: Parameter | ReusableRef) -> Parameter:
    """The Parameter an item stands for; a reference's ``value`` overrides the component's value."""
    if isinstance(item, Parameter):
        return item
    parameter = lookup_component(doc, item, "parameters")
    assert isinstance(parameter, Parameter)
    return msgspec.structs.replace(parameter, value=item.value) if item.has_value else parameter


def resolve_success_action(doc: ArazzoDocument, item: SuccessAction | ReusableRef) -> SuccessAction:
    if isinstance(item, SuccessAction):
        return item
    action = lookup_component(doc, item, "successActions")
    assert isinstance(action, SuccessAction)
    return action


def resolve_failure_action(doc: ArazzoDocument, item: FailureAction | ReusableRef) -> FailureAction:
    if isinstance(item, FailureAction):
        return item
    action = lookup_component(doc, item, "failureActions")
    assert isinstance(action, FailureAction)
    return action
