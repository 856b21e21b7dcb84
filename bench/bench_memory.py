"""Peak memory: a server worker over many enrollment flows, and a whole ``totpflow run`` process.

    .venv/bin/python bench/bench_memory.py [--smoke] [--flows N] [--sample-every N] [--max-seconds S]

The server is one ``totpflow serve`` worker on a new SQLite store whose schema is migrated before the worker
starts, as on every start but a store's first (``--first-start``: the worker migrates an empty file itself,
and keeps the migration tool loaded, about 11 MiB more); its resident set (VmRSS) and peak
(VmHWM, /proc/PID/status) are read after start-up and then every ``--sample-every`` closed-loop flows up to
``--flows`` (bounded by ``--max-seconds``): the RSS curve. Growth that goes on would be a leak or an
unbounded cache; the report gives the growth over the second half of the run (MiB, and MiB per 10,000
flows) and calls the curve level when that is under ``--level-mib`` (default 1 MiB per 10,000 flows). A
100,000-flow run: ``--flows 100000 --sample-every 5000 --max-seconds 3600``. The ``totpflow run`` figure
is the peak RSS (``ru_maxrss`` from ``os.wait4``) of the 3-step workflow of ``bench_workflow_runs.py`` with
our OpenAPI and with Stytch's 1 MB OpenAPI as its source. Results go to ``bench/results/memory.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import time
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


async def rss_curve(
    server: Any, pid: int, args: argparse.Namespace
) -> tuple[dict[str, float], list[tuple[int, float]]]:
    """Closed-loop flows in batches of ``--sample-every``; (flows done, VmRSS MiB) after each batch."""
    curve = [(0, round(rss_kib(pid)["VmRSS"] / 1024, 1))]
    done = errors = 0
    began = time.perf_counter()
    while done < args.flows:
        left = args.max_seconds - (time.perf_counter() - began)
        if left <= 0:
            break
        batch = await closed_loop(
            server.base_url,
            bench_server.enrollment_flow(server, f"mem{len(curve)}"),  # fresh emails in every batch
            concurrency=args.concurrency,
            max_flows=min(args.sample_every, args.flows - done),
            max_seconds=left,
            requests_per_flow=bench_server.REQUESTS_PER_FLOW,
        )
        done += batch.flows
        errors += batch.errors
        curve.append((done, round(rss_kib(pid)["VmRSS"] / 1024, 1)))
        if batch.flows == 0:
            break
    return {"flows": done, "errors": errors, "wall_s": time.perf_counter() - began}, curve


def levelling(curve: list[tuple[int, float]], level_mib: float) -> dict[str, Any]:
    """Growth over the second half of the curve, in MiB and MiB per 10,000 flows; level when under
    ``level_mib`` per 10,000 flows."""
    if len(curve) < 3 or curve[-1][0] == 0:
        return {"second_half_growth_mib": None, "levels_off": None}
    last_flows, last_rss = curve[-1]
    mid_flows, mid_rss = min(curve, key=lambda point: abs(point[0] - last_flows / 2))
    growth = last_rss - mid_rss
    per_10k = growth / (last_flows - mid_flows) * 10_000 if last_flows > mid_flows else 0.0
    return {
        "second_half_growth_mib": round(growth, 1),
        "second_half_growth_mib_per_10k_flows": round(per_10k, 2),
        "levels_off": per_10k < level_mib,
    }


def migrate(database_url: str) -> None:
    """Bring a new store's schema to the head in a process of its own: importing the server here would make
    this process large, and the ``totpflow run`` children measured below start as copies of it (their peak
    RSS, ``ru_maxrss``, counts the moment between fork and exec)."""
    code = "import sys; from totpflow.server.storage import open_store; open_store(sys.argv[1]).dispose()"
    subprocess.run([sys.executable, "-c", code, database_url], check=True, timeout=120)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="50 flows, our OpenAPI only")
    parser.add_argument("--flows", type=int, default=10_000)
    parser.add_argument("--sample-every", type=int, default=1_000, help="flows between RSS samples")
    parser.add_argument("--level-mib", type=float, default=1.0, help="level: growth per 10,000 flows below")
    parser.add_argument("--max-seconds", type=float, default=300.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--first-start", action="store_true", help="the worker migrates an empty store")
    parser.add_argument("--output", type=Path, default=servers.RESULTS / "memory.json")
    args = parser.parse_args()
    if args.smoke:
        args.flows, args.sample_every, args.max_seconds = 50, 25, 20.0
    results: dict[str, Any] = {"machine": servers.machine()}
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp:
        if not args.first_start:
            migrate(f"sqlite:///{Path(tmp) / 'totpflow.db'}")
        with servers.totpflow_server(Path(tmp)) as (server, pid):
            start = rss_kib(pid)
            load, curve = asyncio.run(rss_curve(server, pid, args))
            after = rss_kib(pid)
            results["server_worker"] = {
                "schema": "migrated by the worker" if args.first_start else "migrated before start",
                "flows": load["flows"],
                "errors": load["errors"],
                "rss_after_start_mib": round(start["VmRSS"] / 1024, 1),
                "rss_after_flows_mib": round(after["VmRSS"] / 1024, 1),
                "peak_rss_mib": round(after["VmHWM"] / 1024, 1),
                "flows_per_s": round(load["flows"] / load["wall_s"], 1) if load["wall_s"] else 0.0,
                "rss_curve": curve,
                **levelling(curve, args.level_mib),
            }
            shown = {k: v for k, v in results["server_worker"].items() if k != "rss_curve"}
            print(f"server worker: {shown}", flush=True)
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
    servers.write_results(args.output, results)
    failed = load["errors"] + sum(not r["ok"] for r in runs.values())
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
