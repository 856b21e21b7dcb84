"""How a step of a 1.1 document binds to its source, as far as the document alone can tell.

In 1.1 a step targets an OpenAPI operation (``operationId``/``operationPath``), an AsyncAPI operation
(``operationId`` or ``channelPath`` plus ``action``) or a workflow. The official 1.1 schema tells the kinds
apart by shape only, and which operation ``{$sourceDescriptions.<name>.<ref>}`` names depends on the source
(1.1.0 "Source Description Expression Resolution": an operationId, even one called ``url``, wins over a
field). These checks are reference findings (``validate.Findings.references``): problems for the run and a
full ``totpflow validate``, warnings for ``totpflow validate --skip-sources``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

from totpflow.arazzo.document.model import ArazzoDocument, Step
from totpflow.arazzo.document.references import source_qualified

Finding = tuple[Literal["problem", "warning"], str, str]  # (kind, location, message)

_PREFIX = "{$sourceDescriptions."
_SUFFIX = ".url}"


def step_binding(doc: ArazzoDocument, step: Step) -> Iterator[Finding]:
    """Problems and warnings about what ``step`` targets."""
    at = step.location
    want = "asyncapi" if step.action is not None else "openapi"
    if step.operation_id is not None:
        qualified = source_qualified(step.operation_id)
        if qualified is not None:
            yield from _source(doc, qualified[0], f"{at}/operationId", want, step)
        elif step.action is not None:
            asyncapi = [s.name for s in doc.source_descriptions if s.type == "asyncapi"]
            if not asyncapi:
                yield "problem", f"{at}/action", "an AsyncAPI step, but the document has no asyncapi source"
    for field_name, text, kind in (
        ("operationPath", step.operation_path, "openapi"),
        ("channelPath", step.channel_path, "asyncapi"),
    ):
        if text is None:
            continue
        head, hash_, fragment = text.partition("#")
        if head.startswith(_PREFIX) and head.endswith(_SUFFIX) and hash_ and fragment.startswith("/"):
            yield from _source(doc, head[len(_PREFIX) : -len(_SUFFIX)], f"{at}/{field_name}", kind, step)
        else:
            yield (
                "problem",
                f"{at}/{field_name}",
                f"{text!r} is not of the form {{$sourceDescriptions.<name>.url}}#<JSON Pointer>; "
                "it will not resolve when the sources are loaded",
            )
    if step.workflow_id is not None and step.request_body is not None:
        yield (
            "warning",
            f"{at}/requestBody",
            "a step that runs a workflow sends no request; its 'requestBody' is ignored",
        )


def _source(doc: ArazzoDocument, name: str, location: str, want: str, step: Step) -> Iterator[Finding]:
    source = doc.source_description(name)
    if source is None:
        yield "problem", location, f"no source description named {name!r}"
        return
    if source.type is None or source.type == want or (source.type == "arazzo"):
        if source.type == "arazzo":
            yield "problem", location, f"source description {name!r} is an Arazzo document, not {want}"
        return
    if want == "openapi":
        yield (
            "problem",
            location,
            f"source description {name!r} is of type {source.type}: an AsyncAPI step needs 'action' "
            "(send or receive)",
        )
    else:
        yield (
            "problem",
            location,
            f"source description {name!r} is of type {source.type}: 'action'"
            f"{' and correlationId' if step.correlation_id is not None else ''} apply to AsyncAPI steps only",
        )
