"""Success and failure actions: which list applies to a step, which action is taken, how long a retry waits.

Arazzo 1.0.1 "Workflow Object": workflow-level ``successActions``/``failureActions`` apply to every step, and
a step "can override but never remove" them. The engine therefore MERGES: the step's own actions first, then
the workflow's actions whose ``name`` no step action uses (a step action with the same name overrides it).
Redocly ``respect`` instead lets a step list replace the workflow list wholesale. The first action, in that
order, whose criteria all pass is taken ("Step Object": "If multiple … actions have the same criteria, the
first … shall be executed"); an action without criteria always matches.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TypeVar

from totpflow.arazzo.document.model import ArazzoDocument, FailureAction, Step, SuccessAction, Workflow
from totpflow.arazzo.document.references import resolve_failure_action, resolve_success_action

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
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())
