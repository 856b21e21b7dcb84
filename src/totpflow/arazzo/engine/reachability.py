"""Which implied step dependencies a run can reach unmet: a step that reads ``$steps.<id>…`` and can start
while that step has not completed in the run.

A 1.0 document checks no step-level dependency, so such a step runs and reads nothing there (``null`` in a
``simple`` condition, an evaluation error elsewhere); the same step of a 1.1 document fails with a dependency
error before it sends anything, and no failure action applies (``dependencies.py``). ``totpflow upgrade``
lists every such reference, since the 1.1 document may then decide otherwise (docs/conformance.md, the
``upgrade`` row).

The question is answered on the steps of each workflow as the runner moves between them (``runner.py``,
``steps.py``), every action counted as possibly taken whatever its criteria (an over-approximation: a
reference is listed when a path *may* reach it):

- a run of a workflow starts at its first step; a step that succeeds goes to each of its success actions'
  ``goto`` steps, and to the next step unless an action without criteria (always taken) comes first;
- a step that fails goes to each of its failure actions' ``goto`` steps, and to a ``retry``'s ``stepId``
  step (run before the re-attempt), until an action without criteria other than a ``retry`` (whose limit
  runs out) comes first; otherwise the workflow ends;
- a step run as a ``retry`` target goes back to the step that retries, when it succeeds or when it fails and
  a ``goto`` failure action of it is taken (the runner ignores where that ``goto`` points);
- ``end``, a ``goto`` to a workflow and the last step's success leave the workflow.

A step reads step X unmet when it can be reached from the first step on a path where X never succeeded:
every path, with X's successes cut. That a run of the workflow earlier in the same run completed X (a
sub-workflow called twice) is not counted, which again can only list more.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from typing import Any

import msgspec

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
from totpflow.arazzo.engine.actions import failure_actions, success_actions
from totpflow.arazzo.engine.dependencies import implied_steps
from totpflow.arazzo.engine.plan import merge_parameters
from totpflow.arazzo.errors import ArazzoError
from totpflow.arazzo.expressions import Compiled, compile_value


class Unmet(msgspec.Struct, frozen=True):
    """Step ``step`` of ``workflow`` reads step ``read``, which may not have completed when it starts."""

    workflow: Workflow
    step: Step
    read: str
    # True when the step can be reached without ``read`` having run at all (an action passes over it, or it
    # comes later); else only after it failed and one of ``going_on`` (its failure actions) went on.
    passed_over: bool
    going_on: tuple[str, ...]


def unmet_dependencies(doc: ArazzoDocument) -> list[Unmet]:
    """Every (reading step, step read) of ``doc`` whose dependency a run may reach unmet, in order."""
    found: list[Unmet] = []
    for workflow in doc.workflows:
        found += _workflow(doc, workflow)
    return found


class _Compiler:
    """Compiles without caching: each step is read once."""

    def value(self, owner: object, value: Any, part: str = "") -> Compiled:
        return compile_value(value)

    def criterion(self, criterion: Criterion) -> CompiledCriterion:
        return compile_criterion(criterion)


class _Actions(msgspec.Struct, frozen=True):
    parameters: tuple[Parameter, ...]
    success_actions: tuple[SuccessAction, ...]
    failure_actions: tuple[FailureAction, ...]


class _Edges(msgspec.Struct):
    succeeded: set[int] = msgspec.field(default_factory=set)
    failed: set[int] = msgspec.field(default_factory=set)


def _workflow(doc: ArazzoDocument, workflow: Workflow) -> list[Unmet]:
    steps = workflow.steps
    index = {step.step_id: i for i, step in enumerate(steps)}
    plans: list[_Actions | None] = []
    for step in steps:
        try:
            plans.append(
                _Actions(
                    merge_parameters(doc, workflow, step),
                    success_actions(doc, workflow, step),
                    failure_actions(doc, workflow, step),
                )
            )
        except ArazzoError:  # an action or parameter that does not resolve: a problem of the document
            plans.append(None)
    edges = [_Edges() for _ in steps]
    for i, plan in enumerate(plans):
        if plan is None:
            continue
        if _goes_on(plan.success_actions, edges[i].succeeded, index) and i + 1 < len(steps):
            edges[i].succeeded.add(i + 1)
        _goes_on(plan.failure_actions, edges[i].failed, index)
        for action in plan.failure_actions:
            target = index.get(action.step_id) if action.type == "retry" and action.step_id else None
            if target is not None:  # the retry target runs, then control comes back here
                edges[target].succeeded.add(i)
                other = plans[target]
                if other is not None and any(a.type == "goto" for a in other.failure_actions):
                    edges[target].failed.add(i)
    found: list[Unmet] = []
    compiler = _Compiler()
    for i, (step, plan) in enumerate(zip(steps, plans, strict=True)):
        if plan is None:
            continue
        for read in implied_steps(compiler, doc, step, plan):
            x = index.get(read)
            if x is None or not _reaches(edges, i, cut=x, passed_over=False):
                continue
            over = _reaches(edges, i, cut=x, passed_over=True)
            going_on = () if over else _going_on(plans[x])
            found.append(Unmet(workflow, step, read, over, going_on))
    return found


def _goes_on(actions: Sequence[SuccessAction | FailureAction], into: set[int], index: dict[str, int]) -> bool:
    """Add the steps ``actions`` may go to; True when none of them is always taken (the default applies)."""
    for action in actions:
        if action.type == "goto" and action.step_id is not None and action.step_id in index:
            into.add(index[action.step_id])
        elif action.type == "retry":
            if action.step_id is not None and action.step_id in index:
                into.add(index[action.step_id])
            continue  # its limit runs out, and the next action is chosen
        if not action.criteria:
            return False
    return True


def _reaches(edges: Sequence[_Edges], goal: int, *, cut: int, passed_over: bool) -> bool:
    """Whether step ``goal`` can start on a path from the first step where step ``cut`` never succeeded
    (``passed_over``: where it never ran)."""
    if passed_over and goal == cut:
        return False
    seen = {0}
    todo = deque([0])
    while todo:
        node = todo.popleft()
        if passed_over and node == cut:
            continue
        if node == goal:
            return True
        targets: Iterable[int] = (
            edges[node].failed if node == cut else edges[node].succeeded | edges[node].failed
        )
        for target in targets:
            if target not in seen:
                seen.add(target)
                todo.append(target)
    return False


def _going_on(plan: _Actions | None) -> tuple[str, ...]:
    """The names of the failure actions that go on to another step of the workflow (to show)."""
    if plan is None:
        return ()
    names = (a.name for a in plan.failure_actions if a.type in ("goto", "retry") and a.step_id is not None)
    return tuple(dict.fromkeys(names))
