"""Checks of an Arazzo document that need its loaded source descriptions.

Problems: a step whose ``operationId`` / ``operationPath`` does not resolve, a ``workflowId`` step, ``goto`` /
``retry`` target or ``dependsOn`` entry naming ``$sourceDescriptions.<name>.<id>`` that does not exist; an
AsyncAPI step whose channel does not exist, whose address has a parameter with no value (the step's ``in:
channel`` parameter, else its ``default``) or a value outside its ``enum``, whose parameters are neither ``in:
channel`` nor ``in: header``, or whose ``correlationId`` has no message location to be matched against; an
``in: channel`` parameter on an OpenAPI step; a property of the form body the step sends whose Encoding
Object gives it a ``style`` a form cannot have (``matrix``; OAS 3.1.1 §4.8.15.1). Each of these would fail
the run at that step. (A parameter's own style is not judged here: a Swagger 2.0 ``collectionFormat`` or an
OAS 3.2 style may be legal where the runner cannot yet send it; that fails the step.)
Warnings (Arazzo 1.0.1 "Parameter Object": the name must resolve to a parameter of the target operation, but a
runner can still send it): a parameter naming no parameter of the operation, a required path parameter of the
operation that no parameter supplies, and an ``in: channel`` parameter the channel's address does not use.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from totpflow.arazzo import body as bodies
from totpflow.arazzo.document.model import (
    ArazzoDocument,
    FailureAction,
    Parameter,
    ReusableRef,
    Step,
    SuccessAction,
    Workflow,
)
from totpflow.arazzo.document.references import (
    resolve_failure_action,
    resolve_parameter,
    resolve_success_action,
)
from totpflow.arazzo.document.schema import location_key
from totpflow.arazzo.document.validate import Findings
from totpflow.arazzo.errors import DocumentError
from totpflow.arazzo.expressions.compile import is_expression
from totpflow.arazzo.expressions.pointer import escape
from totpflow.arazzo.sources.openapi import Operation
from totpflow.arazzo.sources.sourceset import SourceSet

if TYPE_CHECKING:
    from totpflow.arazzo.asyncapi.document import AsyncTarget

SourceCheck = Findings  # problems and warnings, as the document-local checks report them


def check_sources(doc: ArazzoDocument, sources: SourceSet) -> SourceCheck:
    """Every source-dependent problem (in location order) and warning of ``doc``."""
    report = SourceCheck()
    for workflow in doc.workflows:
        for index, target in enumerate(workflow.depends_on):
            _workflow_target(sources, doc, target, f"{workflow.location}/dependsOn/{index}", report)
        _actions(sources, doc, workflow.success_actions, workflow.failure_actions, report)
        for step in workflow.steps:
            _step(sources, doc, workflow, step, report)
    report.problems.sort(key=lambda problem: location_key(problem.location))
    return report


def _step(
    sources: SourceSet, doc: ArazzoDocument, workflow: Workflow, step: Step, report: SourceCheck
) -> None:
    _actions(sources, doc, step.on_success or (), step.on_failure or (), report)
    if step.workflow_id is not None:
        _workflow_target(sources, doc, step.workflow_id, step.location + "/workflowId", report)
        return
    if step.action is not None:  # an AsyncAPI step: its source, operation or channel must exist
        try:
            _async_target(sources, doc, workflow, step, report)
        except DocumentError as exc:
            report.problems.append(exc)
        return
    try:
        operation = sources.resolve_operation(step, doc)
    except DocumentError as exc:
        report.problems.append(exc)
        return
    _parameters(doc, workflow, step, operation, report)
    _form_styles(step, operation, report)


def _async_target(
    sources: SourceSet, doc: ArazzoDocument, workflow: Workflow, step: Step, report: SourceCheck
) -> None:
    """What an AsyncAPI step points at must be usable as the run will use it: a channel that exists, a value
    for every parameter of its address (the step's, else the Parameter Object's ``default``), parameters only
    ``in: channel`` or ``in: header``, and, for a ``correlationId``, messages that say where theirs is."""
    # imported only for documents with async steps
    from totpflow.arazzo.asyncapi.document import ADDRESS_PARAMETER, GIVEN_AT_RUN_TIME
    from totpflow.arazzo.expressions.compile import is_expression
    from totpflow.arazzo.expressions.template import has_template

    where = sources.resolve_async(step, doc)
    assert where.source.asyncapi is not None
    values: dict[str, Any] = {}
    given: dict[str, str] = {}  # channel parameter name → where the step's own parameter is written
    for item in (*workflow.parameters, *step.parameters):
        try:
            parameter = resolve_parameter(doc, item)
        except DocumentError:
            continue  # reported by the document's own checks
        if parameter.in_ == "channel":
            value = parameter.value  # read at run time when an expression or holding {$…}, as the run does
            runtime = isinstance(value, str) and (is_expression(value) or has_template(value))
            values[parameter.name] = GIVEN_AT_RUN_TIME if runtime else value
            if item in step.parameters:
                given[parameter.name] = item.location
        elif parameter.in_ is not None and parameter.in_ != "header" and item in step.parameters:
            report.problems.append(
                DocumentError(
                    item.location + "/in",
                    f"{parameter.in_!r}: an AsyncAPI step's parameters are in 'channel' (its address) or "
                    "'header' (the message's headers)",
                )
            )

    def target(parameters: dict[str, Any]) -> AsyncTarget:
        assert where.source.asyncapi is not None
        try:
            return where.source.asyncapi.target(
                action=str(step.action),
                operation_id=where.operation_id,
                channel_path=where.channel_path,
                parameters=parameters,
            )
        except DocumentError as exc:
            named = not exc.location or exc.location.lstrip("#") in exc.message
            inside = "" if named else f" (at {exc.location} of {where.source.name!r})"
            raise DocumentError(where.location, f"{exc.message}{inside}") from None

    found = target(values)
    if step.action == "receive" and step.correlation_id is not None and not found.correlations:
        raise DocumentError(
            step.location + "/correlationId",
            f"the messages of channel {found.channel!r} declare no correlationId location to match it",
        )
    address = target(dict.fromkeys(values, GIVEN_AT_RUN_TIME)).address
    if address is not None:
        used = set(ADDRESS_PARAMETER.findall(address))
        for name, location in given.items():
            if name not in used:
                report.warn(location, f"the address of channel {found.channel!r} has no parameter {name!r}")


def _parameters(
    doc: ArazzoDocument, workflow: Workflow, step: Step, operation: Operation, report: SourceCheck
) -> None:
    declared = {_identity(p.name, p.in_) for p in operation.parameters}
    given: set[tuple[str, str]] = set()
    for item in (*workflow.parameters, *step.parameters):
        try:
            parameter: Parameter = resolve_parameter(doc, item)
        except DocumentError:
            continue  # reported by the document's own checks
        if parameter.in_ is None:
            continue
        if parameter.in_ == "channel" and item in step.parameters:
            report.problems.append(
                DocumentError(
                    item.location + "/in",
                    "'channel' is for the address of an AsyncAPI step's channel; "
                    f"{operation.operation_id or operation.path!r} is an OpenAPI operation",
                )
            )
            continue
        identity = _identity(parameter.name, parameter.in_)
        given.add(identity)
        if identity not in declared and item in step.parameters and not _credential(parameter, operation):
            report.warn(
                item.location,
                f"operation {operation.operation_id or operation.path!r} declares no "
                f"{parameter.in_} parameter {parameter.name!r}",
            )
    for declared_parameter in operation.parameters:
        if declared_parameter.in_ == "path" and _identity(declared_parameter.name, "path") not in given:
            report.warn(
                step.location,
                f"required path parameter {declared_parameter.name!r} of operation "
                f"{operation.operation_id or operation.path!r} is not given",
            )


def _form_styles(step: Step, operation: Operation, report: SourceCheck) -> None:
    """A form body's property the operation's Encoding Object gives a style a form cannot have: a problem at
    the property of a payload written as an object, a warning for a payload that is an expression (whether
    it holds the property is known only at run time)."""
    body = step.request_body
    if body is None or not body.has_payload or not operation.request_encodings:
        return
    content_type = bodies.choose_content_type(body, operation.request_content_types)
    if not bodies.is_form(content_type):
        return
    encodings = operation.request_encodings.get(bodies.media_type(content_type)) or {}
    refused = {
        name: problem
        for name, encoding in encodings.items()
        if (problem := bodies.form_style_problem(name, encoding)) is not None
    }
    if not refused:
        return
    payload = body.payload
    if isinstance(payload, Mapping):
        for name in payload:
            if str(name) in refused:
                report.problems.append(
                    DocumentError(f"{body.location}/payload/{escape(str(name))}", refused[str(name)])
                )
    elif isinstance(payload, str) and is_expression(payload):
        for problem in refused.values():
            report.warn(f"{body.location}/payload", f"if the payload holds it: {problem}")


def _credential(parameter: Parameter, operation: Operation) -> bool:
    """Whether the parameter carries a credential of the operation's security schemes (OpenAPI leaves those
    out of ``parameters``: OAS 3.1 §4.8.12.1 ignores Authorization/Content-Type/Accept header parameters)."""
    name = parameter.name.lower()
    if parameter.in_ == "header" and name in ("authorization", "accept", "content-type"):
        return True
    return any(
        isinstance(scheme, dict)
        and scheme.get("type") == "apiKey"
        and scheme.get("in") == parameter.in_
        and str(scheme.get("name", "")).lower() == name
        for scheme in operation.security_schemes.values()
    )


def _identity(name: str, where: str) -> tuple[str, str]:
    # header names are case-insensitive (RFC 9110 §5.1)
    return (name.lower() if where == "header" else name, where)


def _actions(
    sources: SourceSet,
    doc: ArazzoDocument,
    successes: tuple[SuccessAction | ReusableRef, ...],
    failures: tuple[FailureAction | ReusableRef, ...],
    report: SourceCheck,
) -> None:
    actions: list[SuccessAction | FailureAction] = []
    try:
        actions += [resolve_success_action(doc, item) for item in successes]
        actions += [resolve_failure_action(doc, item) for item in failures]
    except DocumentError:
        return  # an unresolvable reference is reported by the document's own checks
    for action in actions:
        if action.workflow_id is not None:
            _workflow_target(sources, doc, action.workflow_id, action.location + "/workflowId", report)


def _workflow_target(
    sources: SourceSet, doc: ArazzoDocument, target: str, location: str, report: SourceCheck
) -> None:
    try:
        sources.resolve_workflow(target, doc, location)
    except DocumentError as exc:
        report.problems.append(exc)
