"""Whole-process and in-process Arazzo runs: ``totpflow run`` side by side with jentic ``arazzo-runner`` and
Redocly ``respect``, on the same local server, in one run.

    .venv/bin/python bench/bench_workflow_runs.py [--smoke] [--runs N] [--inprocess-runs N]

The workflow is ``bench/workflows/user-create-search-delete.arazzo.yaml`` (3 steps: create → search →
delete). It runs twice over: with our generated OpenAPI (``openapi/stytch-consumer-openapi.yml``, ~60 KB) as
its source description and with Stytch's real consumer OpenAPI (~1 MB). Each source is a copy whose
``servers`` list is replaced by the local server's URL, because jentic has no whole-URL server override
(arazzo.md §4.2); all three runners then read the very same files.

Whole process: ``--runs`` rounds (default 20); in each round every runner runs once, in rotating order, so
background load hits them alike. Reported: the median wall time per run, its spread, the median CPU time
(user + system) and the peak RSS of each run (``os.wait4``), and the ratios; on a loaded machine the CPU
ratio is the steadier one. A run counts only when it succeeded (rc 0, and for jentic, whose rc is
unreliable, ``workflow_complete`` on stdout). Runners start with byte-code caching on (without
``PYTHONDONTWRITEBYTECODE``), as an installed tool runs: otherwise every run would compile its modules anew.
``--baseline DIR`` adds a runner ``totpflow-baseline``: the console script's code with ``DIR/src`` first on
``PYTHONPATH`` (e.g. ``git archive OLD src | tar -x -C DIR``), for a before/after in the same run.

In process: runs/s of one loaded document (``totpflow.arazzo.load(...)`` then ``.run(...)`` repeatedly, one
``httpx.Client``) against jentic's ``ArazzoRunner.from_arazzo_path(...).execute_workflow(...)``, each in its
own interpreter (``bench/inprocess_runs.py``). Results go to ``bench/results/workflow_runs.json``.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import shutil
import statistics
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import servers

from totpflow.testing import StytchServer

WORKFLOW = servers.BENCH / "workflows" / "user-create-search-delete.arazzo.yaml"
WORKFLOW_ID = "user-create-search-delete"
INPROCESS = servers.BENCH / "inprocess_runs.py"
# respect's response-schema checks stay on but only warn: Stytch's upstream schemas declare some fields our
# server returns as null (e.g. lock_created_at) as plain strings, which would end the run after step 1.
RESPECT_SEVERITY = json.dumps({"SCHEMA_CHECK": "warn"})
TOTPFLOW = Path(os.environ.get("VIRTUAL_ENV", str(servers.ROOT / ".venv"))) / "bin" / "totpflow"


def with_servers(openapi: Path, base_url: str, target: Path) -> None:
    """Copy ``openapi`` to ``target`` with its top-level ``servers`` list replaced by ``base_url``."""
    text = openapi.read_text()
    replaced, count = re.subn(
        r"^servers:\n(?:[ -].*\n)*", f"servers:\n- url: {base_url}\n", text, count=1, flags=re.M
    )
    if count != 1:
        raise RuntimeError(f"{openapi} has no top-level servers list")
    target.write_text(replaced)


def prepare(directory: Path, openapi: Path, base_url: str) -> Path:
    """A directory holding the workflow and its source, pointed at ``base_url``; returns the workflow path."""
    directory.mkdir(parents=True, exist_ok=True)
    doc = directory / WORKFLOW.name
    shutil.copyfile(WORKFLOW, doc)
    with_servers(openapi, base_url, directory / "stytch-consumer-openapi.yml")
    return doc


def inputs(server: StytchServer) -> dict[str, str]:
    token = base64.b64encode(f"{server.project_id}:{server.secret}".encode()).decode()
    return {"email": f"run-{uuid.uuid4().hex[:16]}@example.com", "authorization": f"Basic {token}"}


def mask(text: str, values: dict[str, str]) -> str:
    """``text`` without the credentials: a peer's output may echo its inputs (jentic prints them all)."""
    token = values["authorization"].removeprefix("Basic ")
    return text.replace(token, "********")


BASELINE: Path | None = None  # --baseline DIR


def commands(doc: Path, values: dict[str, str]) -> dict[str, tuple[list[str], Callable[[int, str], bool]]]:
    """Each available runner's command line for one run, and how to tell that the run succeeded."""
    run = (
        ["run", str(doc), "-w", WORKFLOW_ID, "--no-prompt", "--secret-input", "authorization"]
        + [arg for name, value in values.items() for arg in ("--input", f"{name}={value}")]
    )  # fmt: skip
    found: dict[str, tuple[list[str], Callable[[int, str], bool]]] = {
        "totpflow": ([str(TOTPFLOW), *run], lambda rc, out: rc == 0)
    }
    if BASELINE is not None:
        python = str(TOTPFLOW.with_name("python"))
        console_script = "import sys; from totpflow.cli import main; sys.exit(main())"  # as bin/totpflow
        found["totpflow-baseline"] = ([python, "-c", console_script, *run], lambda rc, out: rc == 0)
    redocly = servers.redocly()
    if redocly is not None:
        respect = [str(redocly), "respect", str(doc), "--workflow", WORKFLOW_ID]
        found["respect"] = (
            [*respect, "--input", json.dumps(values), "--severity", RESPECT_SEVERITY],
            lambda rc, out: rc == 0,
        )
    jentic = servers.jentic()
    if jentic is not None:
        found["jentic"] = (
            [str(jentic), "execute-workflow", str(doc), "--workflow-id", WORKFLOW_ID, "--inputs", "{}"],
            lambda rc, out: "status=workflow_complete" in out,
        )
    if "jentic" in found:
        found["jentic"][0][-1] = json.dumps(values)
    return found


def timed_run(argv: list[str], cwd: Path) -> tuple[float, float, int, int, str]:
    """Wall seconds, CPU seconds, exit code, peak RSS (KiB) and output of one whole-process run."""
    env = {**os.environ, **servers.PEER_ENV}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    if BASELINE is not None and argv[1] == "-c":
        env["PYTHONPATH"] = str(BASELINE / "src")
    begin = time.perf_counter()
    process = subprocess.Popen(
        argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
    )
    assert process.stdout is not None
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - begin
    process.returncode = os.waitstatus_to_exitcode(status)
    cpu = usage.ru_utime + usage.ru_stime
    return wall, cpu, process.returncode, usage.ru_maxrss, output.decode(errors="replace")


def whole_process(server: StytchServer, doc: Path, runs: int) -> dict[str, Any]:
    walls: dict[str, list[float]] = {}
    cpus: dict[str, list[float]] = {}
    rss: dict[str, list[int]] = {}
    failures: dict[str, int] = {}
    last_failure: dict[str, str] = {}
    deadline = time.monotonic() + 900
    for round_number in range(runs):
        if time.monotonic() > deadline:
            break
        names = list(commands(doc, inputs(server)))
        names = names[round_number % len(names) :] + names[: round_number % len(names)]
        for name in names:
            values = inputs(server)  # a fresh email per run: a failed run leaves its user behind
            argv, ok = commands(doc, values)[name]
            wall, cpu, rc, peak, output = timed_run(argv, doc.parent)
            if ok(rc, output):
                walls.setdefault(name, []).append(wall)
                cpus.setdefault(name, []).append(cpu)
                rss.setdefault(name, []).append(peak)
            else:
                failures[name] = failures.get(name, 0) + 1
                last_failure[name] = mask(output, values)[-1500:]
    result: dict[str, Any] = {}
    for name in sorted(set(walls) | set(failures)):
        times = walls.get(name, [])
        result[name] = {
            "ok_runs": len(times),
            "failed_runs": failures.get(name, 0),
            "median_s": round(statistics.median(times), 4) if times else None,
            "min_s": round(min(times), 4) if times else None,
            "max_s": round(max(times), 4) if times else None,
            "median_cpu_s": round(statistics.median(cpus[name]), 4) if times else None,
            "peak_rss_mib": round(statistics.median(rss[name]) / 1024, 1) if name in rss else None,
        }
        if name in last_failure:
            result[name]["last_failure_tail"] = last_failure[name]
    ours = result.get("totpflow", {}).get("median_s")
    ours_cpu = result.get("totpflow", {}).get("median_cpu_s")
    for name, entry in result.items():
        if name != "totpflow" and ours and entry["median_s"]:
            entry["times_slower_than_totpflow"] = round(entry["median_s"] / ours, 2)
        if name != "totpflow" and ours_cpu and entry["median_cpu_s"]:
            entry["cpu_times_more_than_totpflow"] = round(entry["median_cpu_s"] / ours_cpu, 2)
    return result


def in_process(server: StytchServer, doc: Path, runs: int) -> dict[str, Any]:
    values = inputs(server)
    interpreters = {"totpflow": str(servers.ROOT / ".venv" / "bin" / "python")}
    if servers.jentic() is not None:
        interpreters["jentic"] = str(servers.JENTIC / "python")
    result: dict[str, Any] = {}
    for name, python in interpreters.items():
        done = subprocess.run(
            [python, str(INPROCESS), name, str(doc), WORKFLOW_ID, json.dumps(values), str(runs)],
            capture_output=True,
            text=True,
            timeout=600,
            env={**os.environ, **servers.PEER_ENV},
        )
        if done.returncode != 0:
            result[name] = {"error": done.stderr[-1500:]}
            continue
        result[name] = json.loads(done.stdout.strip().splitlines()[-1])
    ours = result.get("totpflow", {}).get("ms_per_run")
    jentic = result.get("jentic", {}).get("ms_per_run")
    if ours and jentic:
        result["jentic"]["times_slower_than_totpflow"] = round(jentic / ours, 2)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--smoke", action="store_true", help="one round, our OpenAPI only, a few in-process runs"
    )
    parser.add_argument("--runs", type=int, default=20, help="whole-process rounds per source (default 20)")
    parser.add_argument("--inprocess-runs", type=int, default=300, help="in-process runs (default 300)")
    parser.add_argument("--output", type=Path, default=servers.RESULTS / "workflow_runs.json")
    parser.add_argument("--baseline", type=Path, metavar="DIR", help="also run DIR/src (see above)")
    parser.add_argument("--only-ours", action="store_true", help="whole-process runs of our OpenAPI only")
    args = parser.parse_args()
    global BASELINE
    BASELINE = args.baseline.resolve() if args.baseline else None
    sources = {"ours": servers.OUR_OPENAPI}
    upstream = servers.upstream_openapi()
    if args.smoke:
        args.runs, args.inprocess_runs = 1, 5
    elif upstream is not None and not args.only_ours:
        sources["upstream"] = upstream
    measured: dict[str, Any] = {}
    results: dict[str, Any] = {"machine": servers.machine(), "runs": args.runs, "sources": measured}
    failed = 0
    with (
        tempfile.TemporaryDirectory(prefix="bench-runs-") as tmp,
        servers.totpflow_server(Path(tmp)) as (
            server,
            _pid,
        ),
    ):
        for label, openapi in sources.items():
            doc = prepare(Path(tmp) / label, openapi, server.base_url)
            entry: dict[str, Any] = {
                "openapi_bytes": openapi.stat().st_size,
                "whole_process": whole_process(server, doc, args.runs),
            }
            if not args.only_ours:
                entry["in_process"] = in_process(server, doc, args.inprocess_runs)
            measured[label] = entry
            failed += sum(e.get("failed_runs", 0) for e in entry["whole_process"].values())
            print(f"{label}: {json.dumps(entry, indent=1)}", flush=True)
    servers.write_results(args.output, results)
    print(f"wrote {args.output}; failed runs: {failed}")
    ours_failed = sum(s["whole_process"].get("totpflow", {}).get("failed_runs", 0) for s in measured.values())
    return 1 if ours_failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
