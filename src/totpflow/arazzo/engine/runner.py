"""The Arazzo 1.0.1 step loop: dependencies, steps, success criteria, actions, outputs, sub-workflows,
budgets.

Semantics, each decided once and listed with its test in ``docs/conformance.md``:

- A step runs: parameters (workflow-level merged with the step's) → request → ``successCriteria`` (all must
  pass; none given = pass) → on success its outputs (a value its own response lacks is null) → the first
  matching success or failure action (``actions``). Workflow outputs that read a step an ``end`` or ``goto``
  passed over are null.
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
from typing import TYPE_CHECKING, Any, Literal

from totpflow.arazzo.document.model import ArazzoDocument, Workflow
from totpflow.arazzo.engine.context import Frame, Shared, StepContext
from totpflow.arazzo.engine.options import RunOptions
from totpflow.arazzo.engine.plan import Plan
from totpflow.arazzo.engine.resolvers import make_resolver
from totpflow.arazzo.engine.steps import Finished, StepRunner
from totpflow.arazzo.engine.stopwatch import Stopwatch
from totpflow.arazzo.errors import ArazzoError, BudgetExceeded, UsageError
from totpflow.arazzo.expressions import Compiled
from totpflow.arazzo.expressions.nodes import Steps
from totpflow.arazzo.inputs import Computation, InputResolver, parse_computations
from totpflow.arazzo.masking import CREDENTIAL_FIELDS, Masker
from totpflow.arazzo.results import RunResult, StepResult, WorkflowResult
from totpflow.arazzo.senders import Sender, as_sender
from totpflow.arazzo.sources import SourceSet

if TYPE_CHECKING:
    from totpflow.arazzo.engine.messaging import Messaging


class Runner:
    """Runs the workflows of one loaded document. ``plan`` (compiled expressions, resolved steps) may be
    shared
    by every Runner of the same document so that repeated runs parse nothing."""

    def __init__(
        self,
        document: ArazzoDocument,
        sources: SourceSet,
        *,
        client: Any,
        options: RunOptions | None = None,
        plan: Plan | None = None,
        ref: str | None = None,
    ) -> None:
        self.document = document
        self.sources = sources
        self.sender: Sender = as_sender(client)  # an httpx.Client, or any Sender
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
        return _Run(self, dict(inputs or {}), parse_computations(computed or {})).execute(workflow_id)


class _Run(StepRunner):
    """The state of one ``Runner.run`` call."""

    def __init__(self, runner: Runner, given: dict[str, Any], computed: dict[str, Computation]) -> None:
        self.runner = runner
        self.doc = runner.document
        self.options = runner.options
        self.sender = runner.sender
        self.plan = runner.plan
        self.given = given
        self.computed = computed
        # A library caller gets the values it asked for; only credentials are masked unless it passes a
        # Masker (the CLI passes one that masks the secrets an API hands out as well).
        self.masker = runner.options.masker or Masker(sensitive_fields=CREDENTIAL_FIELDS)
        self.shared = Shared(runner.sources, runner.plan)
        self.steps_taken = 0
        self.stopwatch = Stopwatch(runner.options.timer)
        self.results: list[WorkflowResult] = []
        self.finished: dict[tuple[str, str], Finished] = {}
        self.active: list[tuple[str, str]] = []
        self.deadlines: list[tuple[float, str]] = []  # when running timed workflow steps end, and why
        self._messaging: Messaging | None = None

    def messaging(self) -> Messaging:
        """The broker side of the run, made by its first AsyncAPI step."""
        if self._messaging is None:
            from totpflow.arazzo.engine.messaging import Messaging

            self._messaging = Messaging(
                self.shared.sources,
                self.plan,
                self.options.servers,
                self.options.broker_credentials,
                self.options.timeout,
            )
        return self._messaging

    # -- run -------------------------------------------------------------------------------------------------

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
            self.check_dependencies(self.doc, workflow, set())
        started_at = self.options.clock()
        begin = self.stopwatch.now()
        outcomes: list[bool] = []
        try:
            for workflow in targets:
                done = self.finished.get((self.doc.url, workflow.workflow_id))
                if done is None:
                    resolver = checked.pop(workflow.workflow_id)
                    done = self.workflow(self.doc, workflow, self.given, self.computed, 0, resolver)
                outcomes.append(done.result.ok)
        finally:
            if self._messaging is not None:
                self._messaging.close()
        return RunResult(
            document=self.runner.ref,
            # the workflows asked for decide; a sub-workflow whose failure a retry or goto handled does not
            ok=all(outcomes),
            workflows=tuple(self.results),
            started_at=started_at,
            elapsed_ms=(self.stopwatch.now() - begin) * 1000,
            warnings=tuple(getattr(self.doc, "warnings", ())),
        )

    def workflow(
        self,
        doc: ArazzoDocument,
        workflow: Workflow,
        given: Mapping[str, Any],
        computed: Mapping[str, Computation],
        depth: int,
        resolver: InputResolver | None = None,
        *,
        called: bool = False,
        called_by: str | None = None,
    ) -> Finished:
        """Run one workflow to completion; every failure becomes a failed WorkflowResult. ``called``: its
        inputs are a step's or an action's parameters, not the run's; ``called_by``: the ``workflowId`` step
        that runs it (``WorkflowResult.called_by``)."""
        key = (doc.url, workflow.workflow_id)
        begin = self.stopwatch.now()
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
                resolver = make_resolver(self, doc, workflow, given, computed, called=called)
                resolver.check_upfront()
            frame = Frame(doc, workflow, resolver, given, depth)
            self.shared.running.append(frame)
            # receive steps subscribe before any step of the workflow can trigger their message: when the
            # workflow starts, or (a channel parameter an earlier step produces) before the next step runs
            receives = not self.options.dry_run and any(s.action == "receive" for s in workflow.steps)
            index = {step.step_id: i for i, step in enumerate(workflow.steps)}
            position = 0
            while position < len(workflow.steps):
                if receives:
                    self.messaging().subscribe_early(
                        doc, workflow, StepContext(frame, self.shared), self.time_left()
                    )
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
                    # Arazzo 1.1 action ``parameters`` are the target's inputs; without them the target gets
                    # the inputs this workflow was given (as a 1.0 run does)
                    target_given = given if outcome.inputs is None else outcome.inputs
                    transferred = self.workflow(
                        target_doc, target, target_given, {}, depth + 1, called=outcome.inputs is not None
                    )
                    status = "transferred"
                    break
                else:
                    status, error = "failed", outcome.error
                    break
            if (status == "succeeded" or ended_failed) and not self.options.dry_run:
                problem = self.workflow_outputs(frame, workflow, succeeded=status == "succeeded")
                if problem is not None and status == "succeeded":
                    status, error = "failed", problem
        except _Stop as stop:
            status, error = "failed", stop.message
        except ArazzoError as exc:
            status, error = "failed", str(exc)
        finally:
            self.active.pop()
            if frame is not None:
                self.shared.running.pop()
            if self._messaging is not None:
                self._messaging.end_workflow(doc, workflow)
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
            elapsed_ms=(self.stopwatch.now() - begin) * 1000,
            error=None if error is None else self.masker.mask_text(error),
            transferred_to=transferred.result.workflow_id if transferred is not None else None,
            called_by=called_by,
        )
        done = Finished(result, dict(outputs))
        self.results.append(result)
        self.finished[key] = done
        self.shared.workflows[(doc.url, workflow.workflow_id)] = (dict(inputs), dict(outputs))
        return done

    def check_dependencies(self, doc: ArazzoDocument, workflow: Workflow, seen: set[tuple[str, str]]) -> None:
        """Dependencies run with the caller's given inputs, so theirs are checked up front too."""
        for reference in workflow.depends_on:
            dep_doc, dependency = self.shared.sources.resolve_workflow(reference, doc)
            key = (dep_doc.url, dependency.workflow_id)
            if key not in seen:
                seen.add(key)
                make_resolver(self, dep_doc, dependency, self.given, {}).check_upfront()
                self.check_dependencies(dep_doc, dependency, seen)

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

    def workflow_outputs(self, frame: Frame, workflow: Workflow, *, succeeded: bool) -> str | None:
        """Evaluate the workflow's outputs in order; the first that cannot be evaluated fails the workflow
        with the output's name and location (returned). In a workflow that succeeded, an output that
        refers to a step that did not run or did not succeed (an ``end`` or a ``goto`` passed it by design)
        is ``null``."""
        ctx = StepContext(frame, self.shared)
        secret = self.options.secret_outputs
        outputs = workflow.outputs
        for name, expression in outputs.items():
            compiled = self.plan.value(outputs, expression, name)
            try:
                value = compiled.evaluate(ctx)
            except ArazzoError as exc:
                if not (succeeded and _refers_to_a_step_without_outputs(compiled, frame)):
                    return f"{workflow.location}/outputs/{name}: output {name!r}: {exc}"
                value = None
            if secret and name in secret:
                self.masker.add(value)
            frame.outputs[name] = value
        return None


def _refers_to_a_step_without_outputs(compiled: Compiled, frame: Frame) -> bool:
    """Whether ``compiled`` reads ``$steps.<id>.outputs`` of a step of ``frame`` that has none."""
    return any(
        isinstance(expression.node, Steps) and expression.node.step not in frame.step_outputs
        for expression in compiled.expressions()
    )


class _Stop(Exception):
    """Ends a workflow early as failed (a dependency failed or forms a cycle)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
