"""What the ``synchronous=FULL`` commits of the consuming transactions cost a loaded SQLite server.

    .venv/bin/python bench/bench_sqlite_durable_load.py [--smoke] [--seconds S] [--rounds R]
                                                        [--workers 1,2] [--concurrency 32,1]

``bench_sqlite_sync.py`` measures the FULL commit of one call; this measures what it does to a whole server:
enrollment flows per second of ``totpflow serve`` on SQLite (``bench_server.py``'s flow, closed loop) with
durable commits as shipped, and with them turned off (``Store.durable_commits = False`` in the server
processes: every commit ``NORMAL``, no fsync on any request), and as shipped but with every service call
handed to a thread (``full-in-threads``: ``services.ON_LOOP`` emptied, so no call runs on the event loop).
The second figure is not a configuration anyone may run: it is the upper bound of what any change to how the
consuming transactions reach the disk could gain (docs/reliability.md, "Not taken: group durability"); the
third is what running the calls on the loop gains. Next to flows/s: the server's CPU time and its threads'
context switches per flow (from /proc). Each round starts a fresh server
per setting, the settings alternating in order between rounds so that noise from other processes falls on
all alike; medians of the rounds and their ratios. Results go to ``bench/results/sqlite_durable_load.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
from pathlib import Path
from typing import Any

import servers
from bench_server import enrollment_flow
from loadgen import closed_loop

SWITCH = "TOTPFLOW_BENCH_DURABLE_COMMITS"
# Loaded by every interpreter started with the folder on PYTHONPATH (the server and its workers): turns the
# durable commits off, or hands every call to a thread, when the switch says so. Only this benchmark writes
# it, into a temporary folder.
SITECUSTOMIZE = f"""\
import os
if os.environ.get({SWITCH!r}) == "0":
    from totpflow.server.storage import store as _store
    _init = _store.Store.__init__
    def _without_durable_commits(self, *args, **kwargs):
        _init(self, *args, **kwargs)
        self.durable_commits = False
    _store.Store.__init__ = _without_durable_commits
if os.environ.get({SWITCH!r}) == "threads":
    from totpflow.server import services as _services
    _services.ON_LOOP = frozenset()
"""
SETTINGS = {"full": "1", "normal": "0", "full-in-threads": "threads"}


def _one(folder: Path, workers: int, concurrency: int, args: argparse.Namespace) -> dict[str, float]:
    with tempfile.TemporaryDirectory(dir=folder) as directory:
        with servers.totpflow_server(Path(directory), workers=workers) as (server, pid):
            warm = enrollment_flow(server, "warm")
            asyncio.run(
                closed_loop(server.base_url, warm, concurrency=4, max_flows=args.warmup, max_seconds=10)
            )
            pids = servers.descendants(pid)
            cpu, switches = servers.cpu_seconds(pids), servers.context_switches(pids)
            result = asyncio.run(
                closed_loop(
                    server.base_url,
                    enrollment_flow(server, "load"),
                    concurrency=concurrency,
                    max_flows=10**9,
                    max_seconds=args.seconds,
                )
            )
            cpu, switches = servers.cpu_seconds(pids) - cpu, servers.context_switches(pids) - switches
    flows = max(1, len(result.latencies))
    latencies = sorted(result.latencies) or [0.0]
    return {
        "flows_per_s": result.flows_per_s,
        "p50_ms": latencies[len(latencies) // 2] * 1000,
        "p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000,
        "errors": result.errors,
        "server_cpu_us_per_flow": cpu / flows * 1e6,
        "context_switches_per_flow": switches / flows,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="one short round, 1 worker, 4 connections")
    parser.add_argument("--seconds", type=float, default=5.0, help="bound of each load run (default 5)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", default="1,2", help="comma-separated worker counts (default 1,2)")
    parser.add_argument(
        "--concurrency", default="32,1", help="comma-separated connection counts (default 32,1)"
    )
    parser.add_argument("--warmup", type=int, default=100, help="flows before each measurement")
    parser.add_argument("--output", type=Path, default=servers.RESULTS / "sqlite_durable_load.json")
    args = parser.parse_args()
    if args.smoke:
        args.seconds, args.rounds, args.workers, args.concurrency, args.warmup = 1.0, 1, "1", "4", 5
    workers = [int(w) for w in args.workers.split(",")]
    concurrencies = [int(c) for c in args.concurrency.split(",")]
    runs: dict[str, list[dict[str, float]]] = {}
    with tempfile.TemporaryDirectory() as folder:
        site = Path(folder) / "site"
        site.mkdir()
        (site / "sitecustomize.py").write_text(SITECUSTOMIZE)
        path = os.environ.get("PYTHONPATH")
        os.environ["PYTHONPATH"] = str(site) + (os.pathsep + path if path else "")
        for index in range(args.rounds):
            for count in workers:
                for concurrency in concurrencies:
                    order = list(SETTINGS) if index % 2 == 0 else list(reversed(SETTINGS))
                    for setting in order:
                        os.environ[SWITCH] = SETTINGS[setting]
                        figures = _one(Path(folder), count, concurrency, args)
                        key = f"workers={count} connections={concurrency} {setting}"
                        runs.setdefault(key, []).append(figures)
                        print(f"round {index}: {key}: {figures['flows_per_s']:.1f} flows/s", flush=True)
        os.environ.pop(SWITCH, None)
    table: dict[str, Any] = {}
    for count in workers:
        for concurrency in concurrencies:
            name = f"workers={count} connections={concurrency}"
            row = {}
            for setting in SETTINGS:
                rounds = runs[f"{name} {setting}"]
                row[setting] = {
                    "flows_per_s": statistics.median(r["flows_per_s"] for r in rounds),
                    "p99_ms": statistics.median(r["p99_ms"] for r in rounds),
                    "server_cpu_us_per_flow": round(
                        statistics.median(r["server_cpu_us_per_flow"] for r in rounds)
                    ),
                    "context_switches_per_flow": round(
                        statistics.median(r["context_switches_per_flow"] for r in rounds), 1
                    ),
                    "rounds_flows_per_s": [round(r["flows_per_s"], 1) for r in rounds],
                    "errors": sum(r["errors"] for r in rounds),
                }
            full = row["full"]["flows_per_s"]
            for setting in ("normal", "full-in-threads"):
                ratio = row[setting]["flows_per_s"] / full if full else None
                row[f"{setting}_over_full"] = round(ratio, 3) if ratio is not None else None
            table[name] = row
    report = {"machine": servers.machine(), "seconds": args.seconds, "rounds": args.rounds, "results": table}
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
