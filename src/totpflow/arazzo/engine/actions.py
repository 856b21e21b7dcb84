"""Success and failure actions: which list applies to a step, which action is taken, how long a retry waits.

Arazzo 1.0.1 "Workflow Object": workflow-level ``successActions``/``failureActions`` apply to every step, and
a step "can override but never remove" them. The engine therefore MERGES: the step's own actions first, then
the workflow's actions whose ``name`` no step action uses (a step action with the same name overrides it).
Redocly ``respect`` instead lets a step list replace the workflow list wholesale. The first action, in that
order, whose criteria all pass is taken ("Step Object": "If multiple … actions have the same criteria, the
first … shall be executed"); an action without criteria always matches.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Protocol, TypeVar

from totpflow.arazzo.criteria import CompiledCriterion
from totpflow.arazzo.document.model import (
    ArazzoDocument,
    Criterion,
    FailureAction,
    Step,
    SuccessAction,
    Workflow,
)
from totpflow.arazzo.document.references import resolve_failure_action, resolve_success_action
from totpflow.arazzo.errors import ArazzoError
from totpflow.arazzo.expressions import EvaluationContext
from totpflow.arazzo.masking import Masker
from totpflow.arazzo.results import CheckResult


class CriterionCache(Protocol):
    """The compile-once cache the actions evaluate criteria through (``engine.plan.Plan``, which resolves
    each step's actions with this module)."""

    def criterion(self, criterion: Criterion) -> CompiledCriterion: ...


A = TypeVar("A", SuccessAction, FailureAction)


def _merge(step_items: Sequence[A], workflow_items: Sequence[A]) -> tuple[A, ...]:
    names = {action.name for action in step_items}
    merged: list[A] = list(step_items)
    merged.extend(action for action in workflow_items if action.name not in names)
    return tuple(merged)


def success_actions(doc: ArazzoDocument, workflow: Workflow, step: Step) -> tuple[SuccessAction, ...]:
    own = [resolve_success_action(doc, item) for item in step.on_success or ()]
    return _merge(own, [resolve_success_action(doc, item) for item in workflow.success_actions])


def failure_actions(doc: ArazzoDocument, workflow: Workflow, step: Step) -> tuple[FailureAction, ...]:
    own = [resolve_failure_action(doc, item) for item in step.on_failure or ()]
    return _merge(own, [resolve_failure_action(doc, item) for item in workflow.failure_actions])


def retry_after_seconds(header: str | None, now: datetime) -> float | None:
    """The wait an HTTP ``Retry-After`` header asks for (RFC 9110 §10.2.3: delay-seconds or an HTTP-date), or
    None when absent or unparsable. A date in the past means no wait."""
    if header is None:
        return None
    text = header.strip()
    if text.isdigit():
        return float(text)
    try:
        from email.utils import parsedate_to_datetime  # an HTTP-date Retry-After: rare

        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def check_criteria(
    plan: CriterionCache, criteria: Sequence[Criterion], ctx: EvaluationContext, masker: Masker
) -> tuple[CheckResult, ...]:
    """Every success criterion, evaluated (a criterion that cannot be evaluated fails, with the reason)."""
    results = []
    for criterion in criteria:
        try:
            results.append(plan.criterion(criterion).evaluate(ctx, mask=masker.mask_text))
        except ArazzoError as exc:
            results.append(
                CheckResult(criterion.condition, False, criterion.type, masker.mask_text(str(exc)))
            )
    return tuple(results)


def matches(plan: CriterionCache, action: SuccessAction | FailureAction, ctx: EvaluationContext) -> bool:
    """All of the action's criteria pass (an action without criteria always matches)."""
    for criterion in action.criteria:
        try:
            if not plan.criterion(criterion).evaluate(ctx).passed:
                return False
        except ArazzoError:
            return False
    return True


def choose_failure(
    plan: CriterionCache, actions: Sequence[FailureAction], retries: Mapping[str, int], ctx: EvaluationContext
) -> FailureAction | None:
    """The first matching failure action; a retry whose ``retryLimit`` (default 1) is used up is skipped, so
    control falls through to the next matching action (Failure Action Object: the limit "MUST be exhausted"
    before later actions run)."""
    for action in actions:
        if action.type == "retry":
            limit = 1 if action.retry_limit is None else action.retry_limit
            if retries.get(action.name, 0) >= limit:
                continue
        if matches(plan, action, ctx):
            return action
    return None


def retry_wait(action: FailureAction, retry_after: str | None, now: datetime, cap: float) -> float:
    """Seconds to wait before a retry: ``retryAfter``, overridden by a ``Retry-After`` header (the spec's
    SHOULD), capped at ``cap``."""
    header = retry_after_seconds(retry_after, now)
    seconds = header if header is not None else (action.retry_after or 0.0)
    return min(seconds, cap)
