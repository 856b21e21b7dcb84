"""The execution engine: ``Runner(document, sources, client=…, options=RunOptions(…)).run(…) ->
RunResult``."""

from __future__ import annotations

from totpflow.arazzo.engine.options import PromptRequest, RunOptions
from totpflow.arazzo.engine.plan import Plan
from totpflow.arazzo.engine.runner import Runner

__all__ = ["Plan", "PromptRequest", "RunOptions", "Runner"]
