"""The Arazzo 1.0.1 step loop: dependencies, steps, success criteria, actions, outputs, sub-workflows,
budgets.

Semantics, each decided once and listed with its test in ``docs/conformance.md``:

- A step runs: parameters (workflow-level merged with the step's) → request → ``successCriteria`` (all must
  pass; none given = pass) → the first matching success or failure action (``actions``) → outputs.
- No matching success action: the next step. No matching failure action: the workflow fails ("break and
  return"). ``end`` after success ends the workflow successfully with its outputs; ``end`` after a failure
  ends it as failed. ``goto`` a step jumps; ``goto`` a workflow transfers one-way (status ``transferred``).
- ``retry`` waits ``retryAfter`` seconds (a ``Retry-After`` response header overrides it; every wait is capped
  at ``RunOptions.max_retry_wait``), runs its ``stepId``/``workflowId`` target first when given, then re-runs
  the step; ``retryLimit`` (default 1) counts per action; an exhausted retry is skipped so the next matching
  failure action applies.
- A ``workflowId`` step passes its parameters as the child's inputs and sees the child's outputs as
  ``$outputs``; a failed child fails the step. ``dependsOn`` runs each dependency at most once per run, with
  the caller's given inputs, before the dependent workflow.
- Budgets: ``max_steps`` attempts over the whole run, ``max_depth`` nesting; sub-workflow and dependency
  cycles are refused. A budget, a timeout or an unresolvable value fails the step and its workflow, never the
  process.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx

from totpflow.arazzo.document.model import ArazzoDocument, FailureAction, Step, SuccessAction, Workflow
from totpflow.arazzo.engine.actions import retry_after_seconds
from totpflow.arazzo.engine.context import Frame, Shared, StepContext
from totpflow.arazzo.engine.inputs import computations, make_resolver
from totpflow.arazzo.engine.options import RunOptions
from totpflow.arazzo.engine.plan import Plan, StepPlan
from totpflow.arazzo.engine.request import Attempt, prepare, send
from totpflow.arazzo.errors import ArazzoError, BudgetExceeded, UsageError
from totpflow.arazzo.inputs import Computation, InputResolver
from totpflow.arazzo.masking import Masker
from totpflow.arazzo.results import CheckResult, Exchange, RunResult, StepResult, WorkflowResult
from totpflow.arazzo.sources import SourceSet

Control = Literal["next", "end", "end-failed", "goto-step", "goto-workflow", "fail"]


@dataclass(slots=True)
class Outcome:
    """How a step ended and where control goes next."""

    control: Control
    results: list[StepResult]
    target: str | None = None
    error: str | None = None


@dataclass(slots=True)
class Finished:
    """A finished workflow: its (masked) result record and its raw outputs for expressions."""

    result: WorkflowResult
    outputs: dict[str, Any] = field(default_factory=dict)


class Runner:
    """Runs the workflows of one loaded document. ``plan`` (compiled expressions, resolved steps) may be
    shared
    by every Runner of the same document so that repeated runs parse nothing."""

    def __init__(
        self,
        document: ArazzoDocument,
        sources: SourceSet,
        *,
        client: httpx.Client,
        options: RunOptions | None = None,
        plan: Plan | None = None,
        ref: str | None = None,
    ) -> None:
        self.document = document
        self.sources = sources
        self.client = client
        self.options = options or RunOptions()
        self.plan = plan or Plan(sources)
        self.ref = ref or document.url

    def run(
        self,
        workflow_id: str | None = None,
        inputs: Mapping[str, Any] | None = None,
        computed: Mapping[str, str | Computation] | None = None,
    ) -> RunResult:
        """Run one workflow (with its dependencies), or every workflow in document order when ``workflow_id``
        is None. Raises ``InputError`` before any request when a required input can be neither given, computed
        nor prompted for, and ``UsageError`` for an unknown workflow id."""
        return _Run(self, dict(inputs or {}), computations(computed or {})).execute(workflow_id)


class _Run:
    """The state of one ``Runner.run`` call."""

    def __init__(self, runner: Runner, given: dict[str, Any], computed: dict[str, Computation]) -> None:
        self.runner = runner
        self.doc = runner.document
        self.options = runner.options
        self.client = runner.client
        self.plan = runner.plan
        self.given = given
        self.computed = computed
        self.masker = runner.options.masker or Masker()
        self.shared = Shared(runner.sources, runner.plan)
        self.steps_taken = 0
        self.results: list[WorkflowResult] = []
        self.finished: dict[tuple[str, str], Finished] = {}
        self.active: list[tuple[str, str]] = []

    # -- run--------------------------------------------------------------------------------------------------

    def execute(self, workflow_id: str | None) -> RunResult:
        if workflow_id is None:
            targets = list(self.doc.workflows)
        else:
            workflow = self.doc.workflow(workflow_id)
            if workflow is None:
                known = ", ".join(w.workflow_id for w in self.doc.workflows)
                raise UsageError(f"no workflow {workflow_id!r} in the document (workflows: {known})")
            targets = [workflow]
        checked: dict[str, InputResolver] = {}
        for workflow in targets:  # missing required inputs stop the run before any request
            resolver = make_resolver(self, self.doc, workflow, self.given, self.computed)
            resolver.check_upfront()
            checked[workflow.workflow_id] = resolver
        started_at = self.options.clock()
        begin = self.options.timer()
        outcomes: list[bool] = []
        for workflow in targets:
            done = self.finished.get((self.doc.url, workflow.workflow_id))
            if done is None:
                resolver = checked.pop(workflow.workflow_id)
                done = self.workflow(self.doc, workflow, self.given, self.computed, 0, resolver)
            outcomes.append(done.result.ok)
        return RunResult(
            document=self.runner.ref,
            # the workflows asked for decide; a sub-workflow whose failure a retry or goto handled does not
            ok=all(outcomes),
            workflows=tuple(self.results),
            started_at=started_at,
            elapsed_ms=(self.options.timer() - begin) * 1000,
            warnings=tuple(getattr(self.doc, "warnings", ())),
        )

    def take_step(self) -> None:
        self.steps_taken += 1
        if self.steps_taken > self.options.max_steps:
            raise BudgetExceeded(f"step budget exhausted: more than {self.options.max_steps} step attempts")

    # -- workflows--------------------------------------------------------------------------------------------

    def workflow(
        self,
        doc: ArazzoDocument,
        workflow: Workflow,
        given: Mapping[str, Any],
        computed: Mapping[str, Computation],
        depth: int,
        resolver: InputResolver | None = None,
    ) -> Finished:
        """Run one workflow to completion; every failure becomes a failed WorkflowResult."""
        key = (doc.url, workflow.workflow_id)
        begin = self.options.timer()
        frame: Frame | None = None
        steps: list[StepResult] = []
        status: Literal["succeeded", "failed", "transferred"] = "succeeded"
        error: str | None = None
        transferred: Finished | None = None
        ended_failed = False
        self.active.append(key)
        try:
            if depth > self.options.max_depth:
                raise BudgetExceeded(f"workflow nesting deeper than {self.options.max_depth}")
            for dependency in workflow.depends_on:
                dep_doc, dep_workflow = self.shared.sources.resolve_workflow(dependency, doc)
                done = self.dependency(dep_doc, dep_workflow, depth)
                if not done.result.ok:
                    raise _Stop(f"dependency {dependency!r} failed")
            if resolver is None:  # top-level workflows were checked before the run started
                resolver = make_resolver(self, doc, workflow, given, computed)
                resolver.check_upfront()
            frame = Frame(doc, workflow, resolver, given, depth)
            index = {step.step_id: i for i, step in enumerate(workflow.steps)}
            position = 0
            while position < len(workflow.steps):
                outcome = self.step(frame, workflow.steps[position])
                steps.extend(outcome.results)
                if outcome.control == "next":
                    position += 1
                elif outcome.control == "goto-step":
                    position = index[str(outcome.target)]
                elif outcome.control == "end":
                    break
                elif outcome.control == "end-failed":
                    status, error, ended_failed = "failed", outcome.error, True
                    break
                elif outcome.control == "goto-workflow":
                    target_doc, target = self.shared.sources.resolve_workflow(str(outcome.target), doc)
                    transferred = self.workflow(target_doc, target, given, {}, depth + 1)
                    status = "transferred"
                    break
                else:
                    status, error = "failed", outcome.error
                    break
            if (status == "succeeded" or ended_failed) and not self.options.dry_run:
                problem = self.workflow_outputs(frame, workflow)
                if problem is not None and status == "succeeded":
                    status, error = "failed", problem
        except _Stop as stop:
            status, error = "failed", stop.message
        except ArazzoError as exc:
            status, error = "failed", str(exc)
        finally:
            self.active.pop()
        outputs = frame.outputs if frame is not None else {}
        ok = status == "succeeded" or (
            status == "transferred" and transferred is not None and transferred.result.ok
        )
        inputs = frame.inputs.values() if frame is not None else dict(given)
        result = WorkflowResult(
            workflow_id=workflow.workflow_id,
            ok=ok,
            status=status,
            steps=tuple(steps),
            outputs=self.masked(outputs),
            inputs=self.masked(inputs),
            elapsed_ms=(self.options.timer() - begin) * 1000,
            error=None if error is None else self.masker.mask_text(error),
            transferred_to=transferred.result.workflow_id if transferred is not None else None,
        )
        done = Finished(result, dict(outputs))
        self.results.append(result)
        self.finished[key] = done
        self.shared.workflows[workflow.workflow_id] = (dict(inputs), dict(outputs))
        return done

    def dependency(self, doc: ArazzoDocument, workflow: Workflow, depth: int) -> Finished:
        """``dependsOn``: run once per run (a diamond runs the shared dependency once), with the caller's
        given
        inputs (the spec offers no mapping; jentic does the same)."""
        key = (doc.url, workflow.workflow_id)
        done = self.finished.get(key)
        if done is not None:
            return done
        if key in self.active:
            raise _Stop(f"dependency cycle through workflow {workflow.workflow_id!r}")
        return self.workflow(doc, workflow, self.given, {}, depth + 1)

    def workflow_outputs(self, frame: Frame, workflow: Workflow) -> str | None:
        """Evaluate the workflow's outputs in order; the first that cannot be evaluated fails the workflow
        with
        the output's name and location (returned)."""
        ctx = StepContext(frame, self.shared)
        for name, expression in workflow.outputs.items():
            try:
                value = self.plan.value(workflow.outputs, expression, name).evaluate(ctx)
            except ArazzoError as exc:
                return f"{workflow.location}/outputs/{name}: output {name!r}: {exc}"
            self.register_secret(name, value)
            frame.outputs[name] = value
        return None

    # -- steps------------------------------------------------------------------------------------------------

    def step(self, frame: Frame, step: Step) -> Outcome:
        """Run one step with its retries; never raises for a failure of the step itself."""
        begin = self.options.timer()
        exchanges: list[Exchange] = []
        extra: list[StepResult] = []
        checks: tuple[CheckResult, ...] = ()
        retries: dict[str, int] = {}
        attempts = 0
        outputs: dict[str, Any] = {}
        label = step.operation_id or step.operation_path or step.workflow_id

        def finish(ok: bool, action: str, error: str | None = None) -> StepResult:
            return StepResult(
                workflow_id=frame.workflow.workflow_id,
                step_id=step.step_id,
                ok=ok,
                attempts=attempts,
                exchanges=tuple(exchanges),
                checks=checks,
                outputs=self.masked(outputs),
                elapsed_ms=(self.options.timer() - begin) * 1000,
                operation=label,
                action=action,
                error=None if error is None else self.masker.mask_text(error),
            )

        try:
            step_plan = self.plan.step(frame.document, frame.workflow, step)
        except ArazzoError as exc:
            return Outcome("fail", [finish(False, "fail", str(exc))], error=f"step {step.step_id}: {exc}")
        while True:
            attempts += 1
            ctx = StepContext(frame, self.shared)
            attempt: Attempt | None = None
            try:
                self.take_step()
                if step.workflow_id is not None:
                    failure = self.call_workflow(frame, step, step_plan, ctx)
                elif self.options.dry_run:
                    note = self.dry_run(step, step_plan, ctx, exchanges)
                    return Outcome("next", [*extra, finish(True, "dry-run", note)])
                else:
                    attempt, failure = self.call_operation(frame, step, step_plan, ctx)
            except BudgetExceeded as exc:
                return Outcome("fail", [*extra, finish(False, "fail", str(exc))], error=str(exc))
            except ArazzoError as exc:  # a value could not be produced: the step fails, no action applies
                if attempt is not None:
                    exchanges.append(attempt.record(self.masker))
                message = f"{step.location}: {exc}"
                return Outcome("fail", [*extra, finish(False, "fail", message)], error=message)
            checks = () if failure is not None else self.criteria(step, ctx)
            ok = failure is None and all(check.passed for check in checks)
            if ok:
                try:
                    outputs = self.step_outputs(step, ctx)
                except ArazzoError as exc:
                    if attempt is not None:
                        exchanges.append(attempt.record(self.masker))
                    return Outcome("fail", [*extra, finish(False, "fail", str(exc))], error=str(exc))
                if attempt is not None:
                    exchanges.append(attempt.record(self.masker))
                frame.step_outputs[step.step_id] = outputs
                chosen = self.choose(step_plan.success_actions, ctx)
                if chosen is None:
                    return Outcome("next", [*extra, finish(True, "next")])
                if chosen.type == "end":
                    return Outcome("end", [*extra, finish(True, "end")])
                target = chosen.step_id or chosen.workflow_id
                control: Control = "goto-step" if chosen.step_id else "goto-workflow"
                return Outcome(control, [*extra, finish(True, f"goto:{target}")], target=target)
            if attempt is not None:
                exchanges.append(attempt.record(self.masker))
            reason = failure or self.failed_checks(checks)
            failure_action = self.choose_failure(step_plan.failure_actions, retries, ctx)
            if failure_action is None:
                message = f"step {step.step_id} failed: {reason}"
                return Outcome("fail", [*extra, finish(False, "fail", reason)], error=message)
            if failure_action.type == "end":
                message = (
                    f"step {step.step_id} failed: {reason}; failure action {failure_action.name!r} ended"
                )
                return Outcome("end-failed", [*extra, finish(False, "end", reason)], error=message)
            if failure_action.type == "goto":
                target = failure_action.step_id or failure_action.workflow_id
                control = "goto-step" if failure_action.step_id else "goto-workflow"
                return Outcome(control, [*extra, finish(False, f"goto:{target}", reason)], target=target)
            retries[failure_action.name] = retries.get(failure_action.name, 0) + 1
            self.wait(failure_action, attempt)
            problem = self.retry_target(frame, failure_action, extra)
            if problem is not None:
                return Outcome("fail", [*extra, finish(False, "fail", problem)], error=problem)

    def call_operation(
        self, frame: Frame, step: Step, step_plan: StepPlan, ctx: StepContext
    ) -> tuple[Attempt | None, str | None]:
        operation = step_plan.operation
        assert operation is not None
        prepared = prepare(
            step, operation, step_plan.parameters, ctx, self.plan, self.client, self.options, self.masker
        )
        ctx.set_request(prepared.request.method, str(prepared.request.url), prepared.message)
        started_at = self.options.clock()
        attempt = send(step.step_id, prepared, self.client, started_at)
        ctx.set_response(attempt.status, attempt.message)
        return attempt, attempt.error

    def dry_run(
        self, step: Step, step_plan: StepPlan, ctx: StepContext, exchanges: list[Exchange]
    ) -> str | None:
        """``--dry-run``: build the request and record it unsent. Values that only a real response would
        provide (outputs of earlier steps) cannot be evaluated; that is noted, not a failure."""
        assert step_plan.operation is not None
        try:
            prepared = prepare(
                step, step_plan.operation, step_plan.parameters, ctx, self.plan, self.client, self.options,
                self.masker,
            )  # fmt: skip
        except ArazzoError as exc:
            return f"request not built in a dry run: {exc}"
        exchanges.append(Attempt(prepared, self.options.clock(), 0.0, None, None).record(self.masker))
        return None

    def call_workflow(self, frame: Frame, step: Step, step_plan: StepPlan, ctx: StepContext) -> str | None:
        """A ``workflowId`` step: parameters → the child's inputs; the child's outputs → ``$outputs``."""
        child_inputs = {p.name: self.plan.value(p, p.value).evaluate(ctx) for p in step_plan.parameters}
        child_doc, child = self.shared.sources.resolve_workflow(str(step.workflow_id), frame.document)
        key = (child_doc.url, child.workflow_id)
        if key in self.active:
            raise BudgetExceeded(f"workflow cycle: {child.workflow_id!r} is already running")
        done = self.workflow(child_doc, child, child_inputs, {}, frame.depth + 1)
        ctx.child_outputs = done.outputs
        if not done.result.ok:
            return f"workflow {child.workflow_id!r} failed: {done.result.error}"
        return None

    def criteria(self, step: Step, ctx: StepContext) -> tuple[CheckResult, ...]:
        results = []
        for criterion in step.success_criteria:
            try:
                results.append(self.plan.criterion(criterion).evaluate(ctx, mask=self.masker.mask_text))
            except ArazzoError as exc:
                results.append(
                    CheckResult(criterion.condition, False, criterion.type, self.masker.mask_text(str(exc)))
                )
        return tuple(results)

    def matches(self, action: SuccessAction | FailureAction, ctx: StepContext) -> bool:
        for criterion in action.criteria:
            try:
                if not self.plan.criterion(criterion).evaluate(ctx).passed:
                    return False
            except ArazzoError:
                return False
        return True

    def choose(self, actions: tuple[SuccessAction, ...], ctx: StepContext) -> SuccessAction | None:
        return next((action for action in actions if self.matches(action, ctx)), None)

    def choose_failure(
        self, actions: tuple[FailureAction, ...], retries: Mapping[str, int], ctx: StepContext
    ) -> FailureAction | None:
        """The first matching failure action; a retry whose ``retryLimit`` (default 1) is used up is skipped,
        so control falls through to the next matching action (Failure Action Object: the limit "MUST be
        exhausted"
        before later actions run)."""
        for action in actions:
            if action.type == "retry":
                limit = 1 if action.retry_limit is None else action.retry_limit
                if retries.get(action.name, 0) >= limit:
                    continue
            if self.matches(action, ctx):
                return action
        return None

    def wait(self, action: FailureAction, attempt: Attempt | None) -> None:
        """``retryAfter`` seconds, overridden by a ``Retry-After`` header (the spec's SHOULD), capped."""
        header = retry_after_seconds(attempt.retry_after if attempt else None, self.options.clock())
        seconds = header if header is not None else (action.retry_after or 0.0)
        seconds = min(seconds, self.options.max_retry_wait)
        if seconds > 0:
            self.options.sleep(seconds)

    def retry_target(self, frame: Frame, action: FailureAction, extra: list[StepResult]) -> str | None:
        """Run a retry's ``stepId`` or ``workflowId`` target before the re-attempt; its failure fails the
        step."""
        if action.step_id is not None:
            target = next(s for s in frame.workflow.steps if s.step_id == action.step_id)
            outcome = self.step(frame, target)
            extra.extend(outcome.results)
            if outcome.control in ("fail", "end-failed"):
                return f"retry target step {action.step_id!r} failed: {outcome.error}"
        elif action.workflow_id is not None:
            doc, workflow = self.shared.sources.resolve_workflow(action.workflow_id, frame.document)
            done = self.workflow(doc, workflow, frame.given, {}, frame.depth + 1)
            if not done.result.ok:
                return f"retry target workflow {action.workflow_id!r} failed: {done.result.error}"
        return None

    def step_outputs(self, step: Step, ctx: StepContext) -> dict[str, Any]:
        outputs: dict[str, Any] = {}
        for name, expression in step.outputs.items():
            try:
                value = self.plan.value(step.outputs, expression, name).evaluate(ctx)
            except ArazzoError as exc:
                raise _OutputError(f"{step.location}/outputs/{name}: output {name!r}: {exc}") from exc
            self.register_secret(name, value)
            outputs[name] = value
        return outputs

    # -- helpers----------------------------------------------------------------------------------------------

    def register_secret(self, name: str, value: Any) -> None:
        if name in self.options.secret_outputs:
            self.masker.add(value)

    def masked(self, values: Mapping[str, Any]) -> dict[str, Any]:
        return {name: self.masker.mask_json(value) for name, value in values.items()}

    def failed_checks(self, checks: tuple[CheckResult, ...]) -> str:
        failed = [check for check in checks if not check.passed]
        parts = [f"{c.condition}" + (f" ({c.message})" if c.message else "") for c in failed]
        return "success criteria not met: " + "; ".join(parts) if parts else "success criteria not met"


class _Stop(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class _OutputError(ArazzoError):
    pass
