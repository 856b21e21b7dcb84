"""One step of a workflow, with its retries: request or sub-workflow → success criteria → the action taken.

``StepRunner`` is the step half of a run; ``runner._Run`` (the workflow half) inherits it and provides
``workflow()`` for ``workflowId`` steps and retry targets. Every failure of a step ends as a failed
``StepResult`` and an ``Outcome``, never as an exception.

Arazzo 1.1 step ``timeout`` (milliseconds) is an ordinary step failure when it passes, so ``onFailure``
applies (retry, goto, end); it bounds each attempt, not the retries and their waits:

* an HTTP step: its request is sent with that timeout (or the run's ``--timeout`` when shorter), and a
  response that arrives after it (a server that sends slowly) fails the step as well. After a timeout the step
  has no response: ``$statusCode`` and ``$response…`` are null, so criteria reading them do not pass;
* a workflow step: the whole sub-workflow. Every step attempt, request, receive wait and retry wait inside it
  is bounded by the time left; when it runs out the sub-workflow stops (no failure action inside it applies),
  and the step fails with the timeout; ``$outputs`` is then empty;
* a receive step: the wait for its message (``messaging``); a send step: handing its message to the broker
  (connecting included), which the run's ``--timeout`` bounds when the step sets no timeout;
* ``timeout: 0`` fails an HTTP or workflow step at once, sending nothing; a receive step then takes only a
  message already buffered.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

import msgspec

from totpflow.arazzo.document.model import ArazzoDocument, FailureAction, Step, SuccessAction, Workflow
from totpflow.arazzo.document.references import resolve_parameter
from totpflow.arazzo.engine.actions import check_criteria, choose_failure, matches, retry_wait
from totpflow.arazzo.engine.context import Frame, Shared, StepContext
from totpflow.arazzo.engine.options import RunOptions
from totpflow.arazzo.engine.plan import Plan, StepPlan
from totpflow.arazzo.engine.request import Attempt, prepare, send
from totpflow.arazzo.engine.stopwatch import Stopwatch
from totpflow.arazzo.errors import ArazzoError, BrokerError, BudgetExceeded, EvaluationError
from totpflow.arazzo.inputs import Computation, InputResolver
from totpflow.arazzo.masking import Masker
from totpflow.arazzo.results import CheckResult, Exchange, MessageRecord, StepResult, WorkflowResult
from totpflow.arazzo.senders import Sender

if TYPE_CHECKING:
    from totpflow.arazzo.engine.messaging import Messaging

Control = Literal["next", "end", "end-failed", "goto-step", "goto-workflow", "fail"]


class Outcome(msgspec.Struct):
    """How a step ended and where control goes next."""

    control: Control
    results: list[StepResult]
    target: str | None = None
    error: str | None = None
    inputs: dict[str, Any] | None = None  # a ``goto`` workflow's inputs from the action's ``parameters``


class Finished(msgspec.Struct):
    """A finished workflow: its (masked) result record and its raw outputs for expressions."""

    result: WorkflowResult
    outputs: dict[str, Any] = msgspec.field(default_factory=dict)


class StepRunner:
    """The step loop's state and behaviour shared with the workflow half of a run."""

    options: RunOptions
    plan: Plan
    masker: Masker
    shared: Shared
    sender: Sender
    steps_taken: int
    active: list[tuple[str, str]]
    stopwatch: Stopwatch  # timings leave out the time spent at a prompt
    deadlines: list[tuple[float, str]]  # (stopwatch time, what set it) of each running timed workflow step

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
        raise NotImplementedError  # provided by runner._Run

    def take_step(self) -> None:
        self.steps_taken += 1
        if self.steps_taken > self.options.max_steps:
            raise BudgetExceeded(f"step budget exhausted: more than {self.options.max_steps} step attempts")
        if self.deadlines and self.stopwatch.now() >= self.deadlines[-1][0]:
            raise BudgetExceeded(f"timed out: {self.deadlines[-1][1]} has passed")

    def time_left(self) -> float | None:
        """Seconds left before the innermost running timed workflow step's timeout; None outside one."""
        if not self.deadlines:
            return None
        return self.deadlines[-1][0] - self.stopwatch.now()

    def time_limit(self, step: Step) -> tuple[float, str] | None:
        """(seconds, what sets them) an attempt of ``step`` may take: its own ``timeout``, or the time left
        before an enclosing workflow step's timeout when that is shorter; None when neither applies."""
        own = (
            None
            if step.timeout is None
            else (step.timeout / 1000, f"the step's timeout of {step.timeout} ms")
        )
        if self.deadlines:
            end, what = self.deadlines[-1]
            left = end - self.stopwatch.now()
            if own is None or left < own[0]:
                return left, what
        return own

    # -- steps -----------------------------------------------------------------------------------------------

    def step(self, frame: Frame, step: Step) -> Outcome:
        """Run one step with its retries; never raises for a failure of the step itself."""
        begin = self.stopwatch.now()
        if step.action == "receive" and not self.options.dry_run:
            # a subscription made for it when its workflow started that failed: the step's time since then
            begin -= self.messaging().failed_wait(frame.document, frame.workflow, step)
        exchanges: list[Exchange] = []
        extra: list[StepResult] = []
        checks: tuple[CheckResult, ...] = ()
        retries: dict[str, int] = {}
        attempts = 0
        outputs: dict[str, Any] = {}
        label = step.operation_id or step.operation_path or step.channel_path or step.workflow_id
        messages: list[MessageRecord] = []

        def finish(ok: bool, action: str, error: str | None = None) -> StepResult:
            return StepResult(
                frame.workflow.workflow_id,
                step.step_id,
                ok,
                attempts,
                tuple(exchanges),
                checks,
                self.masked(outputs) if outputs else {},
                (self.stopwatch.now() - begin) * 1000,
                label,
                action,
                None if error is None else self.masker.mask_text(error),
                tuple(messages),
            )

        try:
            step_plan = self.plan.step(frame.document, frame.workflow, step)
        except ArazzoError as exc:
            return Outcome("fail", [finish(False, "fail", str(exc))], error=f"step {step.step_id}: {exc}")
        if step_plan.dependencies and not self.options.dry_run:
            missing = [written for key, written in step_plan.dependencies if key not in self.shared.completed]
            if missing:
                names = ", ".join(repr(name) for name in missing)
                message = f"{step.location}: depends on {names}, which has not completed in this run"
                return Outcome("fail", [finish(False, "fail", message)], error=message)
        while True:
            attempts += 1
            ctx = StepContext(frame, self.shared)
            attempt: Attempt | None = None
            try:
                self.take_step()
                if step.workflow_id is not None:
                    failure = self.call_workflow(frame, step, step_plan, ctx)
                    if failure is None and self.options.dry_run:
                        # The child's outputs are not evaluated in a dry run, so neither is what reads them.
                        return Outcome("next", [*extra, finish(True, "dry-run")])
                elif self.options.dry_run:
                    note = (
                        self.dry_run(step, step_plan, ctx, exchanges)
                        if step.action is None
                        else f"{step.action} not performed in a dry run"
                    )
                    return Outcome("next", [*extra, finish(True, "dry-run", note)])
                elif step.action is not None:
                    failure = self.call_async(frame, step, step_plan, ctx, messages)
                else:
                    attempt, failure = self.call_operation(frame, step, step_plan, ctx)
            except BudgetExceeded as exc:
                return Outcome("fail", [*extra, finish(False, "fail", str(exc))], error=str(exc))
            except ArazzoError as exc:  # a value could not be produced: the step fails, no action applies
                if attempt is not None:
                    exchanges.append(attempt.record(self.masker))
                message = f"{step.location}: {exc}"
                return Outcome("fail", [*extra, finish(False, "fail", message)], error=message)
            except Exception as exc:  # a defect below the engine still ends as a failed step, not a traceback
                message = f"{step.location}: internal error: {type(exc).__name__}: {exc}"
                return Outcome("fail", [*extra, finish(False, "fail", message)], error=message)
            checks = () if failure is not None else self.criteria(step, step_plan, ctx)
            ok = failure is None and all(check.passed for check in checks)
            if ok:
                try:
                    outputs = self.step_outputs(step, step_plan, ctx)
                except ArazzoError as exc:
                    if attempt is not None:
                        exchanges.append(attempt.record(self.masker))
                    return Outcome("fail", [*extra, finish(False, "fail", str(exc))], error=str(exc))
                if attempt is not None:
                    exchanges.append(attempt.record(self.masker))
                frame.step_outputs[step.step_id] = outputs
                self.shared.completed.add((frame.document.url, frame.workflow.workflow_id, step.step_id))
                chosen = self.choose(step_plan.success_actions, ctx)
                if chosen is None:
                    return Outcome("next", [*extra, finish(True, "next")])
                if chosen.type == "end":
                    return Outcome("end", [*extra, finish(True, "end")])
                target = chosen.step_id or chosen.workflow_id
                control: Control = "goto-step" if chosen.step_id else "goto-workflow"
                try:
                    inputs = self.action_inputs(frame, chosen, ctx)
                except ArazzoError as exc:
                    message = f"{chosen.location}/parameters: {exc}"
                    return Outcome("fail", [*extra, finish(False, "fail", message)], error=message)
                result = finish(True, f"goto:{target}")
                return Outcome(control, [*extra, result], target=target, inputs=inputs)
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
            try:
                inputs = self.action_inputs(frame, failure_action, ctx)
            except ArazzoError as exc:
                message = f"{failure_action.location}/parameters: {exc}"
                return Outcome("fail", [*extra, finish(False, "fail", message)], error=message)
            if failure_action.type == "goto":
                target = failure_action.step_id or failure_action.workflow_id
                control = "goto-step" if failure_action.step_id else "goto-workflow"
                result = finish(False, f"goto:{target}", reason)
                return Outcome(control, [*extra, result], target=target, inputs=inputs)
            retries[failure_action.name] = retries.get(failure_action.name, 0) + 1
            self.wait(failure_action, attempt)
            problem = self.retry_target(frame, failure_action, extra, inputs)
            if problem is not None:
                return Outcome("fail", [*extra, finish(False, "fail", problem)], error=problem)

    def call_operation(
        self, frame: Frame, step: Step, step_plan: StepPlan, ctx: StepContext
    ) -> tuple[Attempt | None, str | None]:
        options = self.options
        limit = self.time_limit(step)
        if limit is not None:
            if limit[0] <= 0:
                return None, f"timed out: {limit[1]} left no time to send the request"
            if limit[0] < options.timeout:
                options = msgspec.structs.replace(options, timeout=limit[0])
        prepared = prepare(step, step_plan, ctx, self.plan, self.sender, options, self.masker)
        ctx.set_request(prepared.request.method, prepared.request, prepared.message)
        started_at = self.options.clock()
        attempt = send(step.step_id, prepared, self.sender, started_at)
        if limit is not None:
            late = attempt.response is not None and attempt.elapsed_ms > limit[0] * 1000
            if late or (attempt.timed_out and limit[0] <= self.options.timeout):
                problem = f"timed out: no response within {limit[1]}"
                if late:
                    status = attempt.status
                    problem = (
                        f"timed out: the response (status {status}) came after {attempt.elapsed_ms:.0f} ms, "
                        f"later than {limit[1]} allows"
                    )
                attempt = msgspec.structs.replace(
                    attempt,
                    response=None,
                    message=None,
                    error=f"step {step.step_id}: {problem}",
                    timed_out=True,
                )
                ctx.set_response(None, None)
                return attempt, problem
        ctx.set_response(attempt.status, attempt.message)
        return attempt, attempt.error

    def call_async(
        self, frame: Frame, step: Step, step_plan: StepPlan, ctx: StepContext, messages: list[MessageRecord]
    ) -> str | None:
        """An AsyncAPI step: publish (``send``) or wait for the correlated message (``receive``)."""
        bridge = self.messaging()
        clock = self.options.clock
        if step.action == "send":
            # the step's timeout (or the time left of an enclosing workflow step's), else the run's, as a
            # receive step's subscription is bound
            seconds, what = self.time_limit(step) or (
                self.options.timeout,
                f"the run's timeout of {self.options.timeout:g} s",
            )
            if seconds <= 0:
                return f"timed out: {what} left no time to send the message"
            try:
                sent = bridge.send(frame.document, frame.workflow, step, step_plan, ctx, clock, seconds)
            except TimeoutError:
                return f"timed out: the message was not sent within {what}"
            except BrokerError as exc:  # like an HTTP connection error: an ordinary failure of the step
                return str(exc)
            ctx.set_message(sent.headers, sent.payload)
            messages.append(self.masked_message(sent))
            return None
        limit = self.time_limit(step)
        timeout = self.options.timeout if limit is None else max(limit[0], 0.0)
        try:
            record, message, failure = bridge.receive(
                frame.document, frame.workflow, step, step_plan, ctx, timeout, clock, self.time_left()
            )
        except BrokerError as exc:
            return str(exc)
        if message is not None:
            ctx.set_message(message.headers, message.decoded())
        if record is not None:
            messages.append(self.masked_message(record))
        return failure

    def masked_message(self, record: MessageRecord) -> MessageRecord:
        mask = self.masker
        headers = dict(mask.mask_headers(record.headers.items()))
        return msgspec.structs.replace(
            record,
            address=mask.mask_text(record.address),  # a channel parameter may be a secret
            headers=headers,
            payload=mask.mask_json(record.payload),
        )

    def messaging(self) -> Messaging:
        raise NotImplementedError  # provided by runner._Run

    def dry_run(
        self, step: Step, step_plan: StepPlan, ctx: StepContext, exchanges: list[Exchange]
    ) -> str | None:
        """``--dry-run``: build the request and record it unsent. Values that only a real response would
        provide (outputs of earlier steps) cannot be evaluated; that is noted, not a failure."""
        try:
            prepared = prepare(step, step_plan, ctx, self.plan, self.sender, self.options, self.masker)
        except ArazzoError as exc:
            return f"request not built in a dry run: {exc}"
        exchanges.append(Attempt(prepared, self.options.clock(), 0.0, None, None).record(self.masker))
        return None

    def call_workflow(self, frame: Frame, step: Step, step_plan: StepPlan, ctx: StepContext) -> str | None:
        """A ``workflowId`` step: parameters → the child's inputs; the child's outputs → ``$outputs``. With a
        ``timeout`` (or inside a timed workflow step) the child must complete before it passes."""
        child_inputs = {p.name: self.plan.value(p, p.value).evaluate(ctx) for p in step_plan.parameters}
        child_doc, child = self.shared.sources.resolve_workflow(str(step.workflow_id), frame.document)
        key = (child_doc.url, child.workflow_id)
        if key in self.active:
            raise BudgetExceeded(f"workflow cycle: {child.workflow_id!r} is already running")
        by = f"{frame.workflow.workflow_id}/{step.step_id}"
        limit = self.time_limit(step)
        if limit is None:
            done = self.workflow(
                child_doc, child, child_inputs, {}, frame.depth + 1, called=True, called_by=by
            )
        else:
            seconds, what = limit
            if seconds <= 0:
                return f"timed out: {what} left no time to run workflow {child.workflow_id!r}"
            if step.timeout is not None and seconds * 1000 >= step.timeout:
                what = f"the timeout of workflow step {step.step_id!r} ({step.timeout} ms)"
            deadline = self.stopwatch.now() + seconds
            self.deadlines.append((deadline, what))
            try:
                done = self.workflow(
                    child_doc, child, child_inputs, {}, frame.depth + 1, called=True, called_by=by
                )
            finally:
                self.deadlines.pop()
            if self.stopwatch.now() >= deadline:
                ctx.child_outputs = {}
                return f"timed out: workflow {child.workflow_id!r} did not complete within {limit[1]}"
        ctx.child_outputs = done.outputs
        if not done.result.ok:
            return f"workflow {child.workflow_id!r} failed: {done.result.error}"
        return None

    def criteria(self, step: Step, step_plan: StepPlan, ctx: StepContext) -> tuple[CheckResult, ...]:
        compiled = step_plan.criteria
        if compiled is None:
            return check_criteria(self.plan, step.success_criteria, ctx, self.masker)
        mask = self.masker.mask_text
        try:
            return tuple([criterion.evaluate(ctx, mask=mask) for criterion in compiled])
        except ArazzoError:  # one cannot be evaluated: each again, so that one fails with the reason
            return check_criteria(self.plan, step.success_criteria, ctx, self.masker)

    def choose(self, actions: tuple[SuccessAction, ...], ctx: StepContext) -> SuccessAction | None:
        if not actions:
            return None
        return next((action for action in actions if matches(self.plan, action, ctx)), None)

    def choose_failure(
        self, actions: tuple[FailureAction, ...], retries: Mapping[str, int], ctx: StepContext
    ) -> FailureAction | None:
        return choose_failure(self.plan, actions, retries, ctx)

    def wait(self, action: FailureAction, attempt: Attempt | None) -> None:
        header = attempt.retry_after if attempt else None
        seconds = retry_wait(action, header, self.options.clock(), self.options.max_retry_wait)
        if self.deadlines:  # inside a timed workflow step: never wait past its end
            seconds = min(seconds, max(self.deadlines[-1][0] - self.stopwatch.now(), 0.0))
        if seconds > 0:
            self.options.sleep(seconds)

    def action_inputs(
        self, frame: Frame, action: SuccessAction | FailureAction, ctx: StepContext
    ) -> dict[str, Any] | None:
        """Arazzo 1.1 action ``parameters``: the target workflow's inputs, evaluated in the context of the
        step that took the action (its request and response, ``$steps``, ``$inputs``); None without them."""
        if not action.parameters or action.workflow_id is None:
            return None
        inputs: dict[str, Any] = {}
        for item in action.parameters:
            parameter = resolve_parameter(frame.document, item)
            inputs[parameter.name] = self.plan.value(item, parameter.value).evaluate(ctx)
        return inputs

    def retry_target(
        self,
        frame: Frame,
        action: FailureAction,
        extra: list[StepResult],
        inputs: dict[str, Any] | None = None,
    ) -> str | None:
        """Run a retry's ``stepId`` or ``workflowId`` target before the re-attempt; its failure fails the
        step. A target workflow gets ``inputs`` (the action's parameters, evaluated for this attempt), else
        the inputs given to the run."""
        if action.step_id is not None:
            target = next(s for s in frame.workflow.steps if s.step_id == action.step_id)
            outcome = self.step(frame, target)
            extra.extend(outcome.results)
            if outcome.control in ("fail", "end-failed"):
                return f"retry target step {action.step_id!r} failed: {outcome.error}"
        elif action.workflow_id is not None:
            doc, workflow = self.shared.sources.resolve_workflow(action.workflow_id, frame.document)
            given = frame.given if inputs is None else inputs
            done = self.workflow(doc, workflow, given, {}, frame.depth + 1, called=inputs is not None)
            if not done.result.ok:
                return f"retry target workflow {action.workflow_id!r} failed: {done.result.error}"
        return None

    def step_outputs(self, step: Step, step_plan: StepPlan, ctx: StepContext) -> dict[str, Any]:
        """The step's outputs, evaluated after its success criteria passed. A value the step's own request
        or response does not hold (a JSON Pointer that selects nothing, a missing header, a text body) is
        ``null``: the criteria decide the step, and actions may then branch on the empty result. Any other
        output that cannot be evaluated fails the step, naming the output."""
        compiled = step_plan.outputs
        outputs: dict[str, Any] = {}
        secret = self.options.secret_outputs
        for index, (name, expression) in enumerate(step.outputs.items()):
            try:
                value = (
                    compiled[index][1]
                    if compiled is not None
                    else self.plan.value(step.outputs, expression, name)
                )
                outputs[name] = value.evaluate(ctx)
            except EvaluationError as exc:
                if not exc.expression.startswith(_OWN_MESSAGE):
                    raise _OutputError(f"{step.location}/outputs/{name}: output {name!r}: {exc}") from exc
                outputs[name] = None
            except ArazzoError as exc:
                raise _OutputError(f"{step.location}/outputs/{name}: output {name!r}: {exc}") from exc
            if secret and name in secret:
                self.masker.add(outputs[name])
        return outputs

    # -- helpers ---------------------------------------------------------------------------------------------

    def masked(self, values: Mapping[str, Any]) -> dict[str, Any]:
        mask = self.masker.mask_json
        return {name: mask(value) for name, value in values.items()}

    def failed_checks(self, checks: tuple[CheckResult, ...]) -> str:
        failed = [check for check in checks if not check.passed]
        parts = [f"{c.condition}" + (f" ({c.message})" if c.message else "") for c in failed]
        return "success criteria not met: " + "; ".join(parts) if parts else "success criteria not met"


_OWN_MESSAGE = ("$response.", "$request.", "$statusCode", "$url", "$method")


class _OutputError(ArazzoError):
    pass
