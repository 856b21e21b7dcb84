"""The ``InputResolver`` of each workflow a run executes, with the engine's prompt callback adapted to it.

Inputs are resolved lazily (``totpflow.arazzo.inputs``): a computed input such as
``totp($steps.createTotp.outputs.secret)`` is evaluated against the step context in which ``$inputs.NAME`` is
first read, so it can use outputs of earlier steps. A prompt sees the outputs of the steps run so far (latest
first), so a terminal can draw a QR code a step just returned before asking for the code it encodes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from totpflow.arazzo.document.model import ArazzoDocument, Workflow
from totpflow.arazzo.engine.context import StepContext
from totpflow.arazzo.engine.options import PromptRequest, RunOptions
from totpflow.arazzo.engine.stopwatch import Stopwatch
from totpflow.arazzo.inputs import Computation, InputResolver, Prompt
from totpflow.arazzo.masking import Masker


class Run(Protocol):
    """What a resolver needs of the run it serves (the run of ``engine.runner``, which builds them here)."""

    @property
    def options(self) -> RunOptions: ...

    @property
    def stopwatch(self) -> Stopwatch: ...

    @property
    def masker(self) -> Masker: ...


CALLED_HINT = "give it as a parameter of the step or action that calls this workflow"


def make_resolver(
    run: Run,
    doc: ArazzoDocument,
    workflow: Workflow,
    given: Mapping[str, Any],
    computed: Mapping[str, Computation],
    *,
    called: bool = False,
) -> InputResolver:
    """The inputs of ``workflow`` in this run; ``called``: given by the parameters of the step or action that
    calls it, so that is where a missing one is to be given."""
    options = run.options
    prompt: Prompt | None = None
    if options.prompt is not None:
        ask = options.prompt

        def prompt(name: str, schema: Mapping[str, Any], ctx: Any) -> Any:
            recent: tuple[tuple[str, Mapping[str, Any]], ...] = ()
            if isinstance(ctx, StepContext):
                recent = tuple(reversed(list(ctx.frame.step_outputs.items())))
            with run.stopwatch.paused():  # a person's typing time is not the step's
                return ask(PromptRequest(name, schema, recent))

    return InputResolver(
        workflow.inputs,
        given,
        computed,
        prompt,
        doc.components.inputs,
        masker=run.masker,
        secret_names=options.secret_inputs,
        clock=lambda: options.clock().timestamp(),
        missing_hint=CALLED_HINT if called else None,
    )
