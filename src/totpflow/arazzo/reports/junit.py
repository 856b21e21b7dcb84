"""The JUnit XML report (``--junit FILE``), for CI systems that read test results (Redocly issue #2609).

Public API::

    to_junit(result, *, masker=None, hostname=None) -> xml.etree.ElementTree.Element   # <testsuites>
    junit_text(result, *, masker=None, hostname=None) -> str                           # with XML declaration
    write_junit(result, path, *, masker=None, hostname=None) -> None

Mapping (valid against the Jenkins xunit-plugin ``junit-10.xsd``, the schema GitHub Actions, GitLab and
Jenkins readers accept; element order follows the older Ant ``JUnit.xsd`` too: properties, testcases,
system-out, system-err)::

    <testsuites name="totpflow" tests failures errors time>
      <testsuite name=workflowId id package=document tests failures errors skipped time timestamp hostname>
        <properties><property name="document" value=…/> <property name="status" value=…/> …</properties>
        <testcase classname=workflowId name=stepId time>       one per step that ran
          <failure message="N of M success criteria failed" type="successCriteria">each failed check</failure>
          <error message=… type="error">                        the step failed without a failed check
                                                                (transport error, evaluation error)
                                                                (neither for a failure that a failure
                                                                action's goto handled in a workflow that
                                                                passed: its system-out says what failed)
          <system-out>the masked request/response summary of every attempt</system-out>
        </testcase>
        <system-out>workflow outputs (masked JSON)</system-out>
        <system-err>the workflow error, if any</system-err>
      </testsuite>

A workflow that failed before any step ran (bad inputs, a dependency failed) gets one ``<testcase
name="(workflow)">`` with an ``<error>``; a skipped workflow one with ``<skipped>``. Times are seconds with
millisecond precision; ``timestamp`` is the run's start in ISO 8601 without a zone designator (UTC), as the
Ant schema's ``xs:dateTime`` pattern for JUnit wants.
"""

from __future__ import annotations

import json
import socket
from datetime import UTC
from pathlib import Path
from xml.etree import ElementTree

from totpflow.arazzo.masking import Masker
from totpflow.arazzo.reports.answer import answer
from totpflow.arazzo.reports.jsonable import json_default, shown_payload
from totpflow.arazzo.reports.masked import mask_result
from totpflow.arazzo.results import Exchange, MessageRecord, RunResult, StepResult, WorkflowResult

WORKFLOW_CASE = "(workflow)"


def _seconds(ms: float) -> str:
    return f"{ms / 1000:.3f}"


def _clean(text: str) -> str:
    """Drop characters XML 1.0 cannot carry (§2.2 Char), e.g. control bytes from a binary response."""
    return (
        "".join(
            ch
            for ch in text
            if ch in "\t\n\r" or ("\x20" <= ch <= "\ud7ff") or ("\ue000" <= ch <= "\U0010ffff")
        )
        .replace("\ufffe", "")
        .replace("\uffff", "")
    )


def exchange_summary(exchange: Exchange, attempt: int) -> str:
    request = exchange.request
    lines = [f"--- attempt {attempt}: {request.method} {request.url}"]
    lines += [f"> {name}: {value}" for name, value in request.headers]
    if request.body is not None:
        lines += ["", request.body]
    response = exchange.response
    if response is None:
        lines.append(f"< no response: {exchange.error or 'request failed'} ({exchange.elapsed_ms:.0f} ms)")
    else:
        lines.append(f"< {response.http_version} {response.status_code} ({exchange.elapsed_ms:.0f} ms)")
        lines += [f"< {name}: {value}" for name, value in response.headers]
        if response.body is not None:
            lines += ["", response.body]
    return "\n".join(lines)


def message_summary(message: MessageRecord) -> str:
    """An AsyncAPI step's message: action, protocol, address, correlation id, headers and payload."""
    where = f"{message.protocol}://{message.server} {message.address}"
    if message.timed_out:
        lines = [f"--- {message.action} {where} (no message within {message.timeout_ms or 0:.0f} ms)"]
    else:
        lines = [f"--- {message.action} {where} ({message.elapsed_ms:.0f} ms)"]
    if message.correlation_id is not None:
        lines.append(f"correlation id: {message.correlation_id}")
    if message.timed_out:
        return "\n".join(lines)
    lines += [f"{name}: {value}" for name, value in message.headers.items()]
    payload, encoding = shown_payload(message.payload)
    if encoding is not None:
        lines += ["", f"payload ({encoding}, {len(message.payload)} bytes):", payload]
    else:
        lines += ["", json.dumps(payload, ensure_ascii=False, default=json_default)]
    return "\n".join(lines)


def _testcase(
    suite: ElementTree.Element, step: StepResult, *, workflow_ok: bool, called_by: str | None = None
) -> tuple[int, int]:
    case = ElementTree.SubElement(
        suite, "testcase", classname=step.workflow_id, name=step.step_id, time=_seconds(step.elapsed_ms)
    )
    failures = errors = 0
    failed = [check for check in step.checks if not check.passed]
    summaries: list[str] = []
    if not step.ok and workflow_ok and (step.action or "").startswith("goto:"):
        # A failure the workflow handles (a failure action's goto) in a run that passed: control flow, such
        # as "not found, so create it", not a failed test; what failed is told in the case's output.
        reasons = [f"✗ {check.condition}" for check in failed] or [step.error or "step failed"]
        summaries.append(f"failed, handled by a failure action ({step.action}): " + "; ".join(reasons))
    elif not step.ok and called_by is not None:
        # A workflow a step called: its failure is that step's (a failure there unless a failure action of
        # the step handles it), so it is told here, and counted once, at the calling step.
        reasons = [f"✗ {check.condition}" for check in failed] or [step.error or "step failed"]
        summaries.append(f"failed; the workflow's failure is reported at {called_by}: " + "; ".join(reasons))
    elif not step.ok and failed:
        failures = 1
        node = ElementTree.SubElement(
            case,
            "failure",
            message=_clean(f"{len(failed)} of {len(step.checks)} success criteria failed"),
            type="successCriteria",
        )
        lines = [
            f"✗ {check.condition}" + (f" — {check.message}" if check.message else "") for check in failed
        ]
        last = step.exchanges[-1].response if step.exchanges else None
        if last is not None:
            lines.append(f"response: {answer(last)}")
        if step.error:
            lines.append(step.error)
        node.text = _clean("\n".join(lines))
    elif not step.ok:
        errors = 1
        node = ElementTree.SubElement(
            case, "error", message=_clean(step.error or "step failed"), type="error"
        )
        node.text = _clean(step.error or "step failed")
    summaries += [exchange_summary(exchange, index) for index, exchange in enumerate(step.exchanges, 1)]
    summaries += [message_summary(message) for message in step.messages]
    if step.outputs:
        summaries.append("outputs: " + json.dumps(step.outputs, ensure_ascii=False, default=json_default))
    if summaries:
        ElementTree.SubElement(case, "system-out").text = _clean("\n\n".join(summaries))
    return failures, errors


def _testsuite(
    parent: ElementTree.Element, workflow: WorkflowResult, index: int, result: RunResult, hostname: str
) -> tuple[int, int, int, int]:
    started = result.started_at.astimezone(UTC)
    suite = ElementTree.SubElement(
        parent,
        "testsuite",
        name=workflow.workflow_id,
        id=str(index),
        package=_clean(result.document),
        time=_seconds(workflow.elapsed_ms),
        timestamp=started.replace(tzinfo=None).isoformat(timespec="seconds"),
        hostname=hostname,
    )
    properties = ElementTree.SubElement(suite, "properties")
    values = {"document": result.document, "status": workflow.status}
    if workflow.transferred_to:
        values["transferredTo"] = workflow.transferred_to
    if workflow.called_by:
        values["calledBy"] = workflow.called_by
    for name, value in values.items():
        ElementTree.SubElement(properties, "property", name=name, value=_clean(value))
    tests = failures = errors = skipped = 0
    for step in workflow.steps:
        failed, errored = _testcase(suite, step, workflow_ok=workflow.ok, called_by=workflow.called_by)
        tests, failures, errors = tests + 1, failures + failed, errors + errored
    if not workflow.steps:
        case = ElementTree.SubElement(suite, "testcase", classname=workflow.workflow_id, name=WORKFLOW_CASE)
        case.set("time", _seconds(workflow.elapsed_ms))
        tests = 1
        if workflow.status == "skipped":
            ElementTree.SubElement(case, "skipped", message=_clean(workflow.error or "workflow skipped"))
            skipped = 1
        elif not workflow.ok:
            message = _clean(workflow.error or "workflow failed")
            ElementTree.SubElement(case, "error", message=message, type="error").text = message
            errors = 1
    elif not workflow.ok and failures + errors == 0 and workflow.called_by is None:
        # The steps passed but the workflow failed (e.g. its outputs could not be evaluated).
        case = ElementTree.SubElement(suite, "testcase", classname=workflow.workflow_id, name=WORKFLOW_CASE)
        case.set("time", "0.000")
        message = _clean(workflow.error or "workflow failed")
        ElementTree.SubElement(case, "error", message=message, type="error").text = message
        tests, errors = tests + 1, 1
    suite.set("tests", str(tests))
    suite.set("failures", str(failures))
    suite.set("errors", str(errors))
    suite.set("skipped", str(skipped))
    out = json.dumps({"outputs": workflow.outputs}, ensure_ascii=False, indent=2, default=json_default)
    ElementTree.SubElement(suite, "system-out").text = _clean(out)
    ElementTree.SubElement(suite, "system-err").text = _clean(workflow.error or "")
    return tests, failures, errors, skipped


def to_junit(
    result: RunResult, *, masker: Masker | None = None, hostname: str | None = None
) -> ElementTree.Element:
    result = mask_result(result, masker)
    root = ElementTree.Element("testsuites", name="totpflow", time=_seconds(result.elapsed_ms))
    host = hostname or socket.gethostname() or "localhost"
    totals = [0, 0, 0]
    for index, workflow in enumerate(result.workflows):
        tests, failures, errors, _ = _testsuite(root, workflow, index, result, host)
        totals = [totals[0] + tests, totals[1] + failures, totals[2] + errors]
    root.set("tests", str(totals[0]))
    root.set("failures", str(totals[1]))
    root.set("errors", str(totals[2]))
    return root


def junit_text(result: RunResult, *, masker: Masker | None = None, hostname: str | None = None) -> str:
    root = to_junit(result, masker=masker, hostname=hostname)
    ElementTree.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ElementTree.tostring(root, encoding="unicode") + "\n"


def write_junit(
    result: RunResult, path: str | Path, *, masker: Masker | None = None, hostname: str | None = None
) -> None:
    Path(path).write_text(junit_text(result, masker=masker, hostname=hostname), encoding="utf-8")
