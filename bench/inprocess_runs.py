"""One runner, in process: load an Arazzo document once, then run one workflow repeatedly; print JSON.

    PYTHON bench/inprocess_runs.py totpflow|jentic DOC WORKFLOW_ID INPUTS_JSON RUNS

Run with our interpreter for ``totpflow`` (``totpflow.arazzo.load(DOC).run(...)`` with one shared
``httpx.Client``) and with ``bench/.venv-jentic/bin/python`` for ``jentic``
(``ArazzoRunner.from_arazzo_path(DOC).execute_workflow(...)``). Each run gets a fresh ``email`` input (the
workflow creates and deletes a user). The last stdout line is ``{"runs", "ok", "load_ms", "ms_per_run",
"runs_per_s"}``. Stand-alone on purpose: it must import nothing from ``bench/`` or totpflow under jentic.
"""

from __future__ import annotations

import json
import sys
import time
import uuid
from collections.abc import Callable
from typing import Any


def totpflow_runner(doc: str, workflow_id: str) -> Callable[[dict[str, Any]], bool]:
    import httpx

    from totpflow.arazzo import load

    loaded = load(doc)
    client = httpx.Client()

    def run(inputs: dict[str, Any]) -> bool:
        return bool(loaded.run(workflow_id, inputs=inputs, client=client).ok)

    return run


def jentic_runner(doc: str, workflow_id: str) -> Callable[[dict[str, Any]], bool]:
    import logging

    from arazzo_runner import ArazzoRunner  # type: ignore[import-not-found]

    logging.disable(logging.WARNING)
    runner = ArazzoRunner.from_arazzo_path(doc)

    def run(inputs: dict[str, Any]) -> bool:
        result = runner.execute_workflow(workflow_id, inputs)
        return "complete" in str(getattr(result, "status", "")).lower()

    return run


def main(argv: list[str]) -> int:
    name, doc, workflow_id, inputs_json, runs_text = argv
    base = json.loads(inputs_json)
    runs = int(runs_text)
    begin = time.perf_counter()
    run = totpflow_runner(doc, workflow_id) if name == "totpflow" else jentic_runner(doc, workflow_id)
    load_ms = (time.perf_counter() - begin) * 1000
    run({**base, "email": f"warm-{uuid.uuid4().hex[:12]}@example.com"})
    ok = 0
    begin = time.perf_counter()
    deadline = begin + 300
    done = 0
    while done < runs and time.perf_counter() < deadline:
        ok += run({**base, "email": f"inproc-{uuid.uuid4().hex[:12]}@example.com"})
        done += 1
    elapsed = time.perf_counter() - begin
    print(
        json.dumps(
            {
                "runs": done,
                "ok": ok,
                "load_ms": round(load_ms, 1),
                "ms_per_run": round(elapsed / done * 1000, 3),
                "runs_per_s": round(done / elapsed, 1),
            }
        )
    )
    return 0 if ok == done else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
