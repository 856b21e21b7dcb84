"""Peak memory: a server worker after 10,000 enrollment flows, and a whole ``totpflow run`` process.

    .venv/bin/python bench/bench_memory.py [--smoke] [--flows N] [--max-seconds S]

The server is one ``totpflow serve`` worker on a fresh SQLite store; its resident set (VmRSS) and peak
(VmHWM, /proc/PID/status) are read after start-up and after ``--flows`` closed-loop flows (bounded by
``--max-seconds``): growth between the two would be a leak or an unbounded cache. The ``totpflow run`` figure
is the peak RSS (``ru_maxrss`` from ``os.wait4``) of the 3-step workflow of ``bench_workflow_runs.py`` with
our OpenAPI and with Stytch's 1 MB OpenAPI as its source. Results go to ``bench/results/memory.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
from pathlib import Path
from typing import Any

import bench_server
import bench_workflow_runs
import servers
from loadgen import closed_loop


def rss_kib(pid: int) -> dict[str, int]:
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key = line.split(":", 1)[0]
        if key in ("VmRSS", "VmHWM"):
            found[key] = int(line.split()[1])
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="50 flows, our OpenAPI only")
    parser.add_argument("--flows", type=int, default=10_000)
    parser.add_argument("--max-seconds", type=float, default=300.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--output", type=Path, default=servers.RESULTS / "memory.json")
    args = parser.parse_args()
    if args.smoke:
        args.flows, args.max_seconds = 50, 20.0
    results: dict[str, Any] = {"machine": servers.machine()}
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp:
        with servers.totpflow_server(Path(tmp)) as (server, pid):
            start = rss_kib(pid)
            flow = bench_server.enrollment_flow(server, "mem")
            load = asyncio.run(
                closed_loop(
                    server.base_url,
                    flow,
                    concurrency=args.concurrency,
                    max_flows=args.flows,
                    max_seconds=args.max_seconds,
                    requests_per_flow=bench_server.REQUESTS_PER_FLOW,
                )
            )
            after = rss_kib(pid)
            results["server_worker"] = {
                "flows": load.flows,
                "errors": load.errors,
                "rss_after_start_mib": round(start["VmRSS"] / 1024, 1),
                "rss_after_flows_mib": round(after["VmRSS"] / 1024, 1),
                "peak_rss_mib": round(after["VmHWM"] / 1024, 1),
                "flows_per_s": round(load.flows_per_s, 1),
            }
            print(f"server worker: {results['server_worker']}", flush=True)
            sources = {"ours": servers.OUR_OPENAPI}
            upstream = servers.upstream_openapi()
            if upstream is not None and not args.smoke:
                sources["upstream"] = upstream
            runs: dict[str, Any] = {}
            for label, openapi in sources.items():
                doc = bench_workflow_runs.prepare(Path(tmp) / label, openapi, server.base_url)
                table = bench_workflow_runs.commands(doc, bench_workflow_runs.inputs(server))
                argv, ok = table["totpflow"]
                _wall, _cpu, rc, peak, output = bench_workflow_runs.timed_run(argv, doc.parent)
                runs[label] = {"ok": ok(rc, output), "peak_rss_mib": round(peak / 1024, 1)}
            results["totpflow_run"] = runs
            print(f"totpflow run: {runs}", flush=True)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    failed = load.errors + sum(not r["ok"] for r in runs.values())
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
