"""Arazzo 1.1 step dependencies: explicit step ``dependsOn`` and the ones implied by ``$steps`` references.

Decisions (1.1.0 "Step Dependencies and Execution Order"; docs/conformance.md):

- Steps run in array order, as in 1.0; ``dependsOn`` never reorders them nor triggers a step. A ``dependsOn``
  on a later step of the same workflow (or on the step itself) is refused when the document is validated.
- Before a step of a 1.1 document runs, every step it depends on must have *completed* (succeeded) earlier
  in this run: the steps its ``dependsOn`` names (``stepId``, ``$workflows.<id>.steps.<id>``,
  ``$sourceDescriptions.<name>.<id>.steps.<id>``) and the steps whose outputs it reads with
  ``$steps.<id>.outputs…`` (in parameters, body, replacements, criteria, outputs and actions; its own
  outputs excepted). A step that a ``goto`` or an ``end`` passed over, or that failed (even when a failure
  action handled it), is not completed: the dependent step then fails with a dependency error before it
  sends anything, and no failure action applies. A step of another workflow completes when that workflow
  ran it earlier in this run (a workflow ``dependsOn``, a ``workflowId`` step or a ``goto``).
- 1.0 documents keep their behaviour: no step-level dependency is checked.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

from totpflow.arazzo.criteria import CompiledCriterion
from totpflow.arazzo.document.model import (
    ArazzoDocument,
    Criterion,
    FailureAction,
    Parameter,
    Step,
    SuccessAction,
    Workflow,
)
from totpflow.arazzo.document.references import resolve_parameter
from totpflow.arazzo.errors import ArazzoError
from totpflow.arazzo.expressions import Compiled, Expression
from totpflow.arazzo.expressions.nodes import Steps
from totpflow.arazzo.sources import SourceSet

Key = tuple[str, str, str]  # (document URL, workflowId, stepId)


class Compiler(Protocol):
    """What a step's expressions are compiled through (``engine.plan.Plan``'s compile-once caches)."""

    def value(self, owner: object, value: Any, part: str = "") -> Compiled: ...

    def criterion(self, criterion: Criterion) -> CompiledCriterion: ...


class Plan(Compiler, Protocol):
    """What the dependencies are read through: ``engine.plan.Plan``, which asks this module for each step's
    dependencies when it plans the step."""

    @property
    def sources(self) -> SourceSet: ...


class StepPlan(Protocol):
    """The step's merged parameters and actions (``engine.plan.StepPlan``)."""

    @property
    def parameters(self) -> tuple[Parameter, ...]: ...

    @property
    def success_actions(self) -> tuple[SuccessAction, ...]: ...

    @property
    def failure_actions(self) -> tuple[FailureAction, ...]: ...


def step_dependencies(
    plan: Plan, doc: ArazzoDocument, workflow: Workflow, step: Step, step_plan: StepPlan
) -> tuple[tuple[Key, str], ...]:
    """Every (step key, as written) ``step`` depends on, explicit first, each once."""
    found: dict[Key, str] = {}
    for target in step.depends_on:
        key = _explicit(plan, doc, workflow, target)
        if key is not None:
            found.setdefault(key, target)
    for read in implied_steps(plan, doc, step, step_plan):
        found.setdefault((doc.url, workflow.workflow_id, read), f"$steps.{read}")
    return tuple(found.items())


def implied_steps(plan: Compiler, doc: ArazzoDocument, step: Step, step_plan: StepPlan) -> tuple[str, ...]:
    """The stepIds of the workflow whose outputs ``step`` reads (``$steps.<id>…``), each once, in the order
    they are read; the step itself excepted."""
    found: dict[str, None] = {}
    for expression in _expressions(plan, doc, step, step_plan):
        node = expression.node
        if isinstance(node, Steps) and node.step != step.step_id:
            found.setdefault(node.step)
    return tuple(found)


def _explicit(plan: Plan, doc: ArazzoDocument, workflow: Workflow, target: str) -> Key | None:
    if not target.startswith("$"):
        return doc.url, workflow.workflow_id, target
    head, _, step_id = target.partition(".steps.")
    if head.startswith("$workflows."):
        return doc.url, head.removeprefix("$workflows."), step_id
    try:
        other_doc, other = plan.sources.resolve_workflow(head, doc)
    except ArazzoError:
        return None  # reported when the document was validated
    return other_doc.url, other.workflow_id, step_id


def _expressions(
    plan: Compiler, doc: ArazzoDocument, step: Step, step_plan: StepPlan
) -> Iterable[Expression]:
    """The runtime expressions a step reads; a value that does not compile is left out (it fails the step
    where it is used, with its location)."""
    values: list[tuple[object, object]] = [(p, p.value) for p in step_plan.parameters]
    body = step.request_body
    if body is not None:
        values.append((body, body.payload))
        values += [(r, r.value) for r in body.replacements]
    criteria = list(step.success_criteria)
    actions: list[SuccessAction | FailureAction] = [*step_plan.success_actions, *step_plan.failure_actions]
    for action in actions:
        criteria += action.criteria
        for item in action.parameters:
            try:
                parameter = resolve_parameter(doc, item)
            except ArazzoError:
                continue
            values.append((item, parameter.value))
    for owner, value in values:
        try:
            yield from plan.value(owner, value).expressions()
        except ArazzoError:
            continue
    for name, value in step.outputs.items():
        try:
            yield from plan.value(step.outputs, value, name).expressions()
        except ArazzoError:
            continue
    for criterion in criteria:
        try:
            yield from plan.criterion(criterion).expressions
        except ArazzoError:
            continue
