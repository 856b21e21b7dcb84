"""Checks of an Arazzo document that need its loaded source descriptions.

Problems: a step whose ``operationId`` / ``operationPath`` does not resolve, a ``workflowId`` step, ``goto`` /
``retry`` target or ``dependsOn`` entry naming ``$sourceDescriptions.<name>.<id>`` that does not exist.
Warnings (Arazzo 1.0.1 "Parameter Object": the name must resolve to a parameter of the target operation, but a
runner can still send it): a parameter naming no parameter of the operation, and a required path parameter of
the operation that no parameter supplies.
"""

from __future__ import annotations

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
from totpflow.arazzo.sources.openapi import Operation
from totpflow.arazzo.sources.sourceset import SourceSet

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
            sources.resolve_async(step, doc)
        except DocumentError as exc:
            report.problems.append(exc)
        return
    try:
        operation = sources.resolve_operation(step, doc)
    except DocumentError as exc:
        report.problems.append(exc)
        return
    _parameters(doc, workflow, step, operation, report)


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
