"""The messages file (``--messages FILE``): every message the AsyncAPI steps of a run published or received,
beside the HAR (which holds HTTP exchanges only).

Public API::

    write_messages(result, path, *, masker=None) -> None

JSON Lines (one JSON object per line, in run order), each the JSON report's message object
(``json_report.message_json``) with the ``workflowId`` and ``stepId`` it belongs to first. Masked like every
other report. A receive step's wait that ended without a message (``timedOut``) exchanged none, so it is not
here (the JSON report, JUnit and the terminal show it).
"""

from __future__ import annotations

import json
from pathlib import Path

from totpflow.arazzo.masking import Masker
from totpflow.arazzo.reports.json_report import message_json
from totpflow.arazzo.reports.jsonable import json_default, write_json_text
from totpflow.arazzo.reports.masked import mask_result
from totpflow.arazzo.results import RunResult


def write_messages(result: RunResult, path: str | Path, *, masker: Masker | None = None) -> None:
    result = mask_result(result, masker)
    lines = [
        json.dumps(
            {"workflowId": step.workflow_id, "stepId": step.step_id, **message_json(message)},
            ensure_ascii=False,
            default=json_default,
        )
        for workflow in result.workflows
        for step in workflow.steps
        for message in step.messages
        if not message.timed_out  # a wait that ended without a message exchanged none
    ]
    write_json_text(path, "".join(line + "\n" for line in lines))
