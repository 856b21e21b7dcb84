"""Compile-once caches shared by every run of a loaded document.

Runtime expressions, payloads and criteria are compiled the first time a step needs them and kept for the life
of the document (style habit 6, "parse once, evaluate many"), so a second run of the same ``Loaded`` document
parses nothing. Model objects hold dicts and are therefore not hashable; they are keyed by identity, with a
reference kept so the identity stays valid.
"""

from __future__ import annotations

from typing import Any

from totpflow.arazzo.criteria import CompiledCriterion, compile_criterion
from totpflow.arazzo.document.model import (
    ArazzoDocument,
    Criterion,
    FailureAction,
    Parameter,
    Step,
    SuccessAction,
    Workflow,
)
from totpflow.arazzo.document.references import parameter_identity, resolve_parameter
from totpflow.arazzo.engine.actions import failure_actions, success_actions
from totpflow.arazzo.engine.dependencies import step_dependencies
from totpflow.arazzo.errors import ArazzoError
from totpflow.arazzo.expressions import Compiled, compile_value
from totpflow.arazzo.params import ParameterSpec, parameter_spec
from totpflow.arazzo.sources import Operation, OperationParameter, SourceSet


class Plan:
    """Caches of compiled values and criteria, keyed by the identity of the model object they came from."""

    __slots__ = ("_criteria", "_steps", "_values", "sources")

    def __init__(self, sources: SourceSet) -> None:
        self.sources = sources
        self._steps: dict[int, tuple[Step, StepPlan]] = {}
        self._values: dict[tuple[int, str], tuple[object, Compiled]] = {}
        self._criteria: dict[int, tuple[object, CompiledCriterion]] = {}

    def value(self, owner: object, value: Any, part: str = "") -> Compiled:
        """The compiled form of ``value``, the ``part`` (e.g. an output name) of the model object ``owner`` (a
        Parameter, an outputs map, a RequestBody …)."""
        key = (id(owner), part)
        hit = self._values.get(key)
        if hit is not None and hit[0] is owner:
            return hit[1]
        compiled = compile_value(value)
        self._values[key] = (owner, compiled)
        return compiled

    def step(self, doc: ArazzoDocument, workflow: Workflow, step: Step) -> StepPlan:
        """The step's resolved parameters, actions and operation (OperationNotFound propagates)."""
        hit = self._steps.get(id(step))
        if hit is not None and hit[0] is step:
            return hit[1]
        calls_http = step.workflow_id is None and step.action is None  # not a sub-workflow, not AsyncAPI
        operation = self.sources.resolve_operation(step, doc) if calls_http else None
        plan = StepPlan(
            merge_parameters(doc, workflow, step),
            success_actions(doc, workflow, step),
            failure_actions(doc, workflow, step),
            operation,
        )
        plan.specs = tuple(
            parameter_spec(target, p.name, p.in_ or "query")
            for p, target in zip(plan.parameters, plan.targets, strict=True)
        )
        try:
            plan.values = tuple(self.value(p, p.value) for p in plan.parameters)
            plan.outputs = tuple(
                (name, self.value(step.outputs, expression, name))
                for name, expression in step.outputs.items()
            )
            plan.criteria = tuple(self.criterion(criterion) for criterion in step.success_criteria)
        except ArazzoError:  # a value that does not compile fails where it is used, with its location
            plan.values = plan.outputs = plan.criteria = None
        if doc.minor != "1.0":
            plan.dependencies = step_dependencies(self, doc, workflow, step, plan)
        self._steps[id(step)] = (step, plan)
        return plan

    def criterion(self, criterion: Criterion) -> CompiledCriterion:
        key = id(criterion)
        hit = self._criteria.get(key)
        if hit is not None and hit[0] is criterion:
            return hit[1]
        compiled = compile_criterion(criterion)
        self._criteria[key] = (criterion, compiled)
        return compiled


class StepPlan:
    """What never changes between runs for one step: its merged parameters and actions, resolved once."""

    __slots__ = (
        "criteria",
        "dependencies",
        "failure_actions",
        "operation",
        "outputs",
        "parameters",
        "specs",
        "success_actions",
        "targets",
        "values",
    )

    def __init__(
        self,
        parameters: tuple[Parameter, ...],
        success_actions: tuple[SuccessAction, ...],
        failure_actions: tuple[FailureAction, ...],
        operation: Operation | None,
    ) -> None:
        self.parameters = parameters
        self.success_actions = success_actions
        self.failure_actions = failure_actions
        self.operation = operation
        # the OpenAPI parameter each Arazzo parameter fills (style/explode), None when the operation has none
        by_identity = (
            {parameter_identity(p.name, p.in_): p for p in operation.parameters} if operation else {}
        )
        self.targets: tuple[OperationParameter | None, ...] = tuple(
            by_identity.get(parameter_identity(p.name, p.in_)) for p in parameters
        )
        # Filled by ``Plan.step``: each parameter's serialisation and compiled value, the compiled outputs and
        # success criteria (None when one of them does not compile: the step then compiles each where it is
        # used, so the error carries that place's location).
        self.specs: tuple[ParameterSpec, ...] = ()
        self.values: tuple[Compiled, ...] | None = None
        self.outputs: tuple[tuple[str, Compiled], ...] | None = None
        self.criteria: tuple[CompiledCriterion, ...] | None = None
        # Arazzo 1.1: the steps this one depends on, ((document URL, workflowId, stepId), as written)
        self.dependencies: tuple[tuple[tuple[str, str, str], str], ...] = ()


def merge_parameters(doc: ArazzoDocument, workflow: Workflow, step: Step) -> tuple[Parameter, ...]:
    """Workflow-level parameters merged with the step's (Arazzo 1.0.1 "Step Object" ``parameters``: identity
    is (name, in); the step's parameter wins). Header names compare case-insensitively (RFC 9110 §5.1), and an
    ``in: querystring`` parameter is the whole query component whatever its name, so the step's replaces
    the workflow's. For a
    ``workflowId`` step only parameters without ``in`` apply; they become the called workflow's inputs. For
    an operation or AsyncAPI step only parameters with ``in`` apply (a workflow parameter without ``in`` is
    for its ``workflowId`` steps: it is not sent to every operation as a query parameter)."""

    def identity(parameter: Parameter) -> tuple[str, str | None]:
        return parameter_identity(parameter.name, parameter.in_)

    own = [resolve_parameter(doc, item) for item in step.parameters]
    taken = {identity(parameter) for parameter in own}
    inherited = [resolve_parameter(doc, item) for item in workflow.parameters]
    merged = [*own, *(parameter for parameter in inherited if identity(parameter) not in taken)]
    calls_workflow = step.workflow_id is not None
    return tuple(parameter for parameter in merged if (parameter.in_ is None) == calls_workflow)
