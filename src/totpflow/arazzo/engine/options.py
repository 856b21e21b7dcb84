"""Run options: the knobs and injected seams (clock, sleep, prompt) of one ``Runner``.

Every seam is an argument, never a global: tests pass a fake ``sleep`` so retries do not wait, and the CLI
passes a ``prompt`` only when stdin is a terminal.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import msgspec

from totpflow.arazzo.masking import Masker


def _utc_now() -> datetime:
    return datetime.now(UTC)


class PromptRequest(msgspec.Struct, frozen=True):
    """What the prompt callback is asked for: one input, its JSON Schema, and the values earlier steps of the
    current workflow produced (latest step first), so a terminal can show e.g. the QR code a step just
    returned
    before asking for the TOTP code it encodes."""

    name: str
    schema: Mapping[str, Any]
    recent_outputs: tuple[tuple[str, Mapping[str, Any]], ...]  # (stepId, outputs), latest first


class RunOptions(msgspec.Struct, frozen=True):
    """How to run. ``servers`` maps a source description name to a base URL replacing the OpenAPI servers;
    ``credentials`` is whatever ``totpflow.arazzo.security`` parses (``None``: no credentials)."""

    servers: Mapping[str, str] = msgspec.field(default_factory=dict)
    credentials: Any = None
    # AsyncAPI sources: source name → (user, password) for the broker, or a token (NATS); ``--auth
    # SOURCE=user:pass`` / ``SOURCE=TOKEN`` or ``TOTPFLOW_AUTH_<SOURCE>`` (``security.broker_credentials``)
    broker_credentials: Mapping[str, tuple[str, str] | str] = msgspec.field(default_factory=dict)
    timeout: float = 30.0  # seconds, per HTTP request
    max_steps: int = 1000  # step attempts over the whole run, sub-workflows included
    max_depth: int = 32  # nesting of sub-workflows, dependencies and workflow gotos
    max_retry_wait: float = 60.0  # cap on one retry wait (retryAfter or a Retry-After header), seconds
    masker: Masker | None = None  # None: mask credentials only (the CLI masks issued secrets too)
    prompt: Callable[[PromptRequest], Any] | None = None  # None: unattended, never ask
    secret_inputs: frozenset[str] = frozenset()  # input names whose values are masked (``--secret-input``)
    secret_outputs: frozenset[str] = frozenset()  # output names whose values are masked
    dry_run: bool = False
    clock: Callable[[], datetime] = _utc_now
    sleep: Callable[[float], None] = time.sleep
    timer: Callable[[], float] = time.perf_counter
