"""The Arazzo 1.0.1 / 1.1.0 document as frozen records, one class per spec object, field names as in the spec
(snake_case). Values that may hold runtime expressions are kept as written (``Any``); they are compiled by
``totpflow.arazzo.expressions`` (cached, so each distinct expression is parsed once) when the document is
validated at load, so execution never meets a syntax error.

``location`` fields are RFC 6901 JSON Pointers into the source document, used in every error message.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

ParameterIn = Literal["path", "query", "header", "cookie", "querystring", "channel"]  # last two: 1.1
CriterionType = Literal["simple", "regex", "jsonpath", "xpath", "jsonpointer"]  # jsonpointer: 1.1


class Info(msgspec.Struct, frozen=True):
    title: str
    version: str
    summary: str | None = None
    description: str | None = None


class SourceDescription(msgspec.Struct, frozen=True):
    name: str
    url: str  # as written
    type: Literal["openapi", "arazzo", "asyncapi"] | None  # asyncapi: 1.1
    location: str


class Criterion(msgspec.Struct, frozen=True):
    condition: str
    context: str | None = None
    type: CriterionType = "simple"
    version: str | None = None  # from the Criterion Expression Type Object form
    location: str = ""
    minor: str = "1.0"  # the Arazzo minor version of the document: it decides what a simple condition passes


class Parameter(msgspec.Struct, frozen=True):
    name: str
    value: Any
    in_: ParameterIn | None = None  # spec field "in"; None when the step targets a workflow
    location: str = ""


class ReusableRef(msgspec.Struct, frozen=True):
    """A Reusable Object (``reference: $components.parameters.x`` + optional ``value``), unresolved."""

    reference: str
    value: Any = None
    has_value: bool = False
    location: str = ""


class SuccessAction(msgspec.Struct, frozen=True):
    name: str
    type: Literal["end", "goto"]
    workflow_id: str | None = None
    step_id: str | None = None
    criteria: tuple[Criterion, ...] = ()
    location: str = ""
    parameters: tuple[Parameter | ReusableRef, ...] = ()  # 1.1: inputs of the target workflow


class FailureAction(msgspec.Struct, frozen=True):
    name: str
    type: Literal["end", "goto", "retry"]
    workflow_id: str | None = None
    step_id: str | None = None
    retry_after: float | None = None
    retry_limit: int | None = None  # None means the spec default: a single retry
    criteria: tuple[Criterion, ...] = ()
    location: str = ""
    parameters: tuple[Parameter | ReusableRef, ...] = ()  # 1.1: inputs of the target workflow


class PayloadReplacement(msgspec.Struct, frozen=True):
    target: str
    value: Any
    location: str = ""
    target_selector_type: Any = None  # 1.1: "jsonpointer" | "jsonpath" | "xpath" or an Expression Type Object


class RequestBody(msgspec.Struct, frozen=True):
    content_type: str | None = None
    payload: Any = None
    has_payload: bool = False
    replacements: tuple[PayloadReplacement, ...] = ()
    location: str = ""


class Step(msgspec.Struct, frozen=True):
    step_id: str
    location: str
    description: str | None = None
    operation_id: str | None = None
    operation_path: str | None = None
    workflow_id: str | None = None
    parameters: tuple[Parameter | ReusableRef, ...] = ()
    request_body: RequestBody | None = None
    success_criteria: tuple[Criterion, ...] = ()
    on_success: tuple[SuccessAction | ReusableRef, ...] | None = None  # None: not given (inherit workflow's)
    on_failure: tuple[FailureAction | ReusableRef, ...] | None = None
    outputs: dict[str, Any] = msgspec.field(default_factory=dict)  # expression, or 1.1 Selector Object
    # Redocly's ``x-security`` extension: [{schemeName | scheme, values}], values may hold expressions.
    x_security: tuple[dict[str, Any], ...] = ()
    # Arazzo 1.1: AsyncAPI steps, step-level ordering and timeouts.
    channel_path: str | None = None
    action: Literal["send", "receive"] | None = None
    correlation_id: Any = None
    timeout: int | None = None  # milliseconds
    depends_on: tuple[str, ...] = ()


class Workflow(msgspec.Struct, frozen=True):
    workflow_id: str
    location: str
    steps: tuple[Step, ...]
    summary: str | None = None
    description: str | None = None
    inputs: dict[str, Any] | None = None  # JSON Schema 2020-12, as written ($ref into components allowed)
    depends_on: tuple[str, ...] = ()
    success_actions: tuple[SuccessAction | ReusableRef, ...] = ()
    failure_actions: tuple[FailureAction | ReusableRef, ...] = ()
    outputs: dict[str, Any] = msgspec.field(default_factory=dict)  # expression, or 1.1 Selector Object
    parameters: tuple[Parameter | ReusableRef, ...] = ()


class Components(msgspec.Struct, frozen=True):
    inputs: dict[str, Any] = msgspec.field(default_factory=dict)
    parameters: dict[str, Parameter] = msgspec.field(default_factory=dict)
    success_actions: dict[str, SuccessAction] = msgspec.field(default_factory=dict)
    failure_actions: dict[str, FailureAction] = msgspec.field(default_factory=dict)


class ArazzoDocument(msgspec.Struct, frozen=True):
    arazzo: str
    info: Info
    source_descriptions: tuple[SourceDescription, ...]
    workflows: tuple[Workflow, ...]
    components: Components
    url: str  # absolute URL (file:// or http(s)://) the document was loaded from; base for relative URLs
    raw: dict[str, Any] = msgspec.field(default_factory=dict)
    warnings: tuple[
        str, ...
    ] = ()  # non-fatal findings ("<location>: <message>"), e.g. non-spec forms accepted
    self_uri: str | None = None  # 1.1 ``$self`` as written

    @property
    def identity(self) -> str | None:
        """Arazzo 1.1 ``$self`` made absolute (resolved against the URL the document was read from), or None
        when the document declares none."""
        if self.self_uri is None:
            return None
        from totpflow.arazzo.document.identity import resolve_identity

        return resolve_identity(self.self_uri, self.url)

    @property
    def base(self) -> str:
        """The base URI relative references resolve against: the identity when there is one (1.1
        "Establishing the Base URI"), else the URL the document was read from."""
        identity = self.identity
        return self.url if identity is None else identity

    @property
    def minor(self) -> str:
        """The minor version whose schema, grammar and rules apply: ``"1.0"`` or ``"1.1"``."""
        return self.arazzo[:3]

    def __repr__(self) -> str:  # without ``raw``: the whole parsed document
        ids = [workflow.workflow_id for workflow in self.workflows]
        return f"ArazzoDocument(url={self.url!r}, arazzo={self.arazzo!r}, workflows={ids!r})"

    def source_description(self, name: str) -> SourceDescription | None:
        for source in self.source_descriptions:
            if source.name == name:
                return source
        return None

    def workflow(self, workflow_id: str) -> Workflow | None:
        for workflow in self.workflows:
            if workflow.workflow_id == workflow_id:
                return workflow
        return None
