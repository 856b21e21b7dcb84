"""The terminal report: what a person reads after ``totpflow run``.

Public API::

    render_terminal(result, *, file=None, color=None, verbose=False, masker=None, width=None) -> None
        file: a text stream (default sys.stdout); color: None = only on a terminal and when NO_COLOR is unset
        (https://no-color.org), True/False to force
    format_terminal(result, *, color=False, verbose=False, masker=None, width=100) -> str

Layout, per workflow and step (like Redocly ``respect``, plus attempts, the action taken and the outputs)::

    totp-enrollment ✓ passed  312 ms
      ✓ createUser  POST http://127.0.0.1:8000/v1/users → 200  12 ms
          ✓ $statusCode == 200
      ✗ createTotp  POST http://127.0.0.1:8000/v1/totps → 400  2 attempts  20 ms  → fail
          ✗ $statusCode == 200 — left 400, right 200
          response: 400 invalid_user_id — The user_id is not valid.
      outputs:
        userId: "user-test-…"
    Workflows: 1 passed, 0 failed · Steps: 2 passed, 1 failed · Time: 312 ms

A failed step shows what the API answered (``reports.answer``): the status and the body's ``error_type`` and
``error_message``, or a short excerpt of another body. ``verbose`` adds every attempt's request and response
headers and bodies. Everything shown has passed through the Masker (see ``masking``); user-controlled text is
never interpreted as rich markup, and never as terminal controls either: every segment is written as
``printable`` escapes it (an ESC from a response body shows as ``\x1b``), and a body shown by ``verbose`` is
split at its line breaks, each line behind its ``>``/``<`` marker.
"""

from __future__ import annotations

import json
import os
import sys
from typing import IO, TYPE_CHECKING, Any

from totpflow.arazzo.masking import Masker
from totpflow.arazzo.printable import printable, printable_lines
from totpflow.arazzo.reports.answer import answer
from totpflow.arazzo.reports.jsonable import json_default, shown_payload
from totpflow.arazzo.reports.masked import mask_result
from totpflow.arazzo.results import Exchange, RunResult, StepResult, WorkflowResult

if TYPE_CHECKING:
    from rich.console import Console

PASS, FAIL = "✓", "✗"


class Text:
    """A line of styled segments. Plain output joins the text and never imports rich (a piped or CI run
    saves its start-up cost); coloured output hands the segments to rich. Segments are text, never markup."""

    __slots__ = ("parts",)

    def __init__(self, text: str = "", style: str | None = None) -> None:
        self.parts: list[tuple[str, str | None]] = [(text, style)] if text else []

    def append(self, text: str, style: str | None = None) -> None:
        self.parts.append((text, style))

    @property
    def plain(self) -> str:
        return "".join(text for text, _ in self.parts)


def _ms(value: float) -> str:
    return f"{value / 1000:.2f} s" if value >= 1000 else f"{value:.0f} ms"


def _value(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=json_default)


def _status_style(status: int) -> str:
    return "green" if status < 300 else "yellow" if status < 400 else "red"


def _exchange_lines(exchange: Exchange, attempt: int, indent: str) -> list[Text]:
    lines = [
        Text(f"{indent}attempt {attempt}: {exchange.request.method} {exchange.request.url}", style="dim")
    ]
    for name, value in exchange.request.headers:
        lines.append(Text(f"{indent}> {name}: {value}", style="dim"))
    if exchange.request.body is not None:
        lines.extend(
            Text(f"{indent}> {line}", style="dim") for line in printable_lines(exchange.request.body)
        )
    if exchange.response is None:
        lines.append(Text(f"{indent}< {exchange.error or 'no response'}", style="red"))
        return lines
    lines.append(Text(f"{indent}< {exchange.response.status_code}", style="dim"))
    for name, value in exchange.response.headers:
        lines.append(Text(f"{indent}< {name}: {value}", style="dim"))
    if exchange.response.body is not None:
        lines.extend(
            Text(f"{indent}< {line}", style="dim") for line in printable_lines(exchange.response.body)
        )
    return lines


def _step_lines(step: StepResult, verbose: bool) -> list[Text]:
    line = Text("  ")
    line.append(PASS if step.ok else FAIL, style="green" if step.ok else "red")
    line.append(f" {step.step_id}", style="bold")
    last = step.exchanges[-1] if step.exchanges else None
    if last is not None:
        line.append(f"  {last.request.method} {last.request.url}")
        if last.response is not None:
            line.append(" → ")
            line.append(str(last.response.status_code), style=_status_style(last.response.status_code))
        elif step.action == "dry-run":
            line.append("  (not sent)", style="dim")
        else:
            line.append(" → no response", style="red")
    elif step.messages:
        message = step.messages[-1]
        arrow = "→" if message.action == "send" else "←"
        line.append(f"  {message.action} {arrow} {message.protocol} {message.address}")
        if message.timed_out:
            line.append(f"  no message within {_ms(message.timeout_ms or 0)}", style="red")
    elif step.operation:
        line.append(f"  {step.operation}")
    if step.attempts > 1:
        line.append(f"  {step.attempts} attempts", style="yellow")
    line.append(f"  {_ms(step.elapsed_ms)}", style="dim")
    if step.action and step.action not in ("next",):
        line.append(f"  → {step.action}", style="cyan")
    lines = [line]
    for check in step.checks:
        check_line = Text("      ")
        check_line.append(PASS if check.passed else FAIL, style="green" if check.passed else "red")
        check_line.append(f" {check.condition}")
        if check.type != "simple":
            check_line.append(f" ({check.type})", style="dim")
        if check.message and not check.passed:
            check_line.append(f" — {check.message}", style="dim")
        lines.append(check_line)
    if not step.ok and last is not None and last.response is not None:
        lines.append(Text(f"      response: {answer(last.response)}", style="red"))
    if step.error:
        label, style = ("note", "yellow") if step.action == "dry-run" else ("error", "red")
        lines.append(Text(f"      {label}: {step.error}", style=style))
    if verbose:
        for attempt, exchange in enumerate(step.exchanges, 1):
            lines.extend(_exchange_lines(exchange, attempt, "      "))
        for message in step.messages:
            if message.correlation_id is not None:
                lines.append(Text(f"      correlation id: {message.correlation_id}", style="dim"))
            for name, value in message.headers.items():
                lines.append(Text(f"      {name}: {value}", style="dim"))
            if not message.timed_out:
                payload, encoding = shown_payload(message.payload)
                if encoding is not None:
                    shown = f"({encoding}, {len(message.payload)} bytes) {payload}"
                else:
                    shown = _value(payload)
                lines.append(Text(f"      payload: {shown}", style="dim"))
        for name, value in step.outputs.items():
            lines.append(Text(f"      {name}: {_value(value)}", style="dim"))
    return lines


def _workflow_lines(workflow: WorkflowResult, verbose: bool) -> list[Text]:
    head = Text()
    head.append(workflow.workflow_id, style="bold")
    head.append(" ")
    if workflow.status == "skipped":
        head.append("- skipped", style="yellow")
    elif workflow.ok:
        head.append(
            f"{PASS} {workflow.status if workflow.status != 'succeeded' else 'passed'}", style="green"
        )
    else:
        head.append(f"{FAIL} failed", style="bold red")
    head.append(f"  {_ms(workflow.elapsed_ms)}", style="dim")
    if workflow.transferred_to:
        head.append(f"  → {workflow.transferred_to}", style="cyan")
    lines = [head]
    for step in workflow.steps:
        lines.extend(_step_lines(step, verbose))
    if workflow.error and not any(step.error == workflow.error for step in workflow.steps):
        lines.append(Text(f"  error: {workflow.error}", style="red"))
    if workflow.outputs:
        lines.append(Text("  outputs:", style="bold"))
        for name, value in workflow.outputs.items():
            lines.append(Text(f"    {name}: {_value(value)}"))
    return lines


def summary_line(result: RunResult) -> Text:
    workflows = [w for w in result.workflows if w.status != "skipped"]
    passed = sum(1 for w in workflows if w.ok)
    steps = [step for w in result.workflows for step in w.steps]
    steps_passed = sum(1 for step in steps if step.ok)
    line = Text("Workflows: ")
    line.append(f"{passed} passed", style="green")
    line.append(", ")
    line.append(f"{len(workflows) - passed} failed", style="red" if len(workflows) - passed else "")
    skipped = len(result.workflows) - len(workflows)
    if skipped:
        line.append(f", {skipped} skipped", style="yellow")
    line.append(" · Steps: ")
    line.append(f"{steps_passed} passed", style="green")
    line.append(", ")
    line.append(f"{len(steps) - steps_passed} failed", style="red" if len(steps) - steps_passed else "")
    line.append(f" · Time: {_ms(result.elapsed_ms)}")
    return line


def _lines(result: RunResult, verbose: bool) -> list[Text]:
    lines = [Text(f"warning: {warning}", style="yellow") for warning in result.warnings]
    for workflow in result.workflows:
        lines.extend(_workflow_lines(workflow, verbose))
    lines.append(summary_line(result))
    return lines


def _render(file: IO[str], color: bool | None, width: int | None, result: RunResult, verbose: bool) -> None:
    if color is None:
        color = file.isatty() and not os.environ.get("NO_COLOR")
    lines = _lines(result, verbose)
    if not color:
        file.write("".join(printable(line.plain) + "\n" for line in lines))
        return
    from rich.text import Text as RichText

    console = _console(file, width)
    for line in lines:
        rich_line = RichText()
        for text, style in line.parts:
            rich_line.append(printable(text), style=style or "")
        console.print(rich_line)


def _console(file: IO[str], width: int | None) -> Console:
    from rich.console import Console

    return Console(
        file=file,
        force_terminal=True,
        color_system="auto",
        width=width,
        highlight=False,
        emoji=False,
        soft_wrap=True,
    )


def render_terminal(
    result: RunResult,
    *,
    file: IO[str] | None = None,
    color: bool | None = None,
    verbose: bool = False,
    masker: Masker | None = None,
    width: int | None = None,
) -> None:
    _render(file or sys.stdout, color, width, mask_result(result, masker), verbose)


def format_terminal(
    result: RunResult,
    *,
    color: bool = False,
    verbose: bool = False,
    masker: Masker | None = None,
    width: int = 100,
) -> str:
    import io

    buffer = io.StringIO()
    _render(buffer, color, width, mask_result(result, masker), verbose)
    return buffer.getvalue()
