"""Enrollment flows per second of two or more server trees or settings, side by side in one run.

    .venv/bin/python bench/compare_load.py [--smoke] [--pg] [--workers N] [--concurrency C] [--seconds S]
                                           [--rounds R] [--env NAME:VAR=VALUE ...] NAME=PATH ...

Each ``NAME=PATH`` is a variant of ``totpflow serve``: ``PATH`` is put first on ``PYTHONPATH`` of the server,
so it is an older tree's ``src`` (``git archive OLD src | tar -x -C DIR``, then ``DIR/src``) or a folder with
a ``sitecustomize.py`` that changes a setting; ``PATH`` ``installed`` is the installed tree as it is, and
``PATH`` ``prism`` is Prism mocking Stytch's upstream OpenAPI (``bench/setup-peers.sh``): the same three
requests, with canned answers (``bench_server.py``'s peer), so ``ours=installed mock=prism`` gives the
flows/s ratio to Prism as a median of alternating rounds rather than from one run of each. ``PATH``
``canned`` and ``canned-app`` are the HTTP layer's own floor (``bench/canned.py``): the same three answers
from memory, served as ``totpflow serve`` serves, bare or through Starlette with totpflow's middleware.
``--env NAME:VAR=VALUE`` adds an environment variable to one variant's server (a rate limit, a Redis URL).

Each round starts a fresh server per variant (SQLite, or with ``--pg`` a fresh PostgreSQL schema), warms it
up, then runs ``bench_server.py``'s enrollment flow in a closed loop (with ``--rate``, an open loop at that
many flows/s, whose latencies count from each flow's scheduled start); the variants alternate in order
between rounds so that the machine's noise falls on all alike. Reported per variant, medians of the rounds:
flows/s, p50 and p99, and per flow the server's CPU time and its threads' context switches (from /proc), and
with ``--pg`` the CPU time of the PostgreSQL server (its processes, and the backends that exited during the
load).
Results go to ``bench/results/compare_load.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import tempfile
from pathlib import Path
from typing import Any

import canned
import servers
from bench_server import REQUESTS_PER_FLOW, enrollment_flow
from loadgen import LoadResult, closed_loop, open_loop

from totpflow.testing import StytchServer

INSTALLED = "installed"
PRISM = "prism"


def postgres_pids() -> list[int]:
    """Pids of the PostgreSQL server's processes on this machine (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if (entry / "comm").read_text().strip() == "postgres":
                    found.append(int(entry.name))
    return found


def postgres_cpu_seconds() -> float:
    """CPU seconds so far of the PostgreSQL server: its live processes' own, plus what its postmaster has
    collected from the backends that have exited (``cutime``/``cstime``), so a connection that closes during
    the load counts too."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in postgres_pids():
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += sum(int(value) for value in fields[11:15])  # utime, stime, cutime, cstime
    return total / ticks


def _warm(server: StytchServer, args: argparse.Namespace, *, check: bool) -> None:
    flow = enrollment_flow(server, "warm", check=check)
    asyncio.run(closed_loop(server.base_url, flow, concurrency=4, max_flows=args.warmup, max_seconds=10))


def _measure(
    server: StytchServer, pid: int, args: argparse.Namespace, *, check: bool
) -> tuple[LoadResult, float, int]:
    """The measured load (closed loop, or open loop at ``args.rate``); its result, and the CPU seconds and
    context switches of ``pid`` and the processes below it during the load."""
    pids = servers.descendants(pid)
    cpu, switches = servers.cpu_seconds(pids), servers.context_switches(pids)
    flow = enrollment_flow(server, "load", check=check)
    if args.rate:
        load = open_loop(
            server.base_url,
            flow,
            rate=args.rate,
            max_flows=10**9,
            max_seconds=args.seconds,
            requests_per_flow=REQUESTS_PER_FLOW,
        )
    else:
        load = closed_loop(
            server.base_url, flow, concurrency=args.concurrency, max_flows=10**9, max_seconds=args.seconds
        )
    result = asyncio.run(load)
    return result, servers.cpu_seconds(pids) - cpu, servers.context_switches(pids) - switches


def _prism(args: argparse.Namespace) -> tuple[LoadResult, float, int]:
    openapi = servers.upstream_openapi()
    if servers.prism() is None or openapi is None:
        raise SystemExit("compare_load.py: Prism or the upstream OpenAPI is missing (bench/setup-peers.sh)")
    with servers.prism_process(openapi) as (base_url, pid):
        fake = StytchServer(base_url, "project-test-00000000-0000-0000-0000-000000000000", "secret", "")
        _warm(fake, args, check=False)
        return _measure(fake, pid, args, check=False)


def _canned(kind: str, args: argparse.Namespace) -> tuple[LoadResult, float, int]:
    with canned.canned_server(kind, args.bodies) as (server, pid):
        _warm(server, args, check=True)
        return _measure(server, pid, args, check=True)


def _one(path: str, env: dict[str, str], args: argparse.Namespace) -> dict[str, float]:
    if path == PRISM:
        result, cpu, switches = _prism(args)
        return _figures(result, cpu, 0.0, switches)
    if path in canned.KINDS:
        result, cpu, switches = _canned(path, args)
        return _figures(result, cpu, 0.0, switches)
    saved = {name: os.environ.get(name) for name in [*env, "PYTHONPATH"]}
    os.environ.update(env)
    if path != INSTALLED:
        os.environ["PYTHONPATH"] = path
    try:
        with (
            tempfile.TemporaryDirectory() as directory,
            servers.pg_schema(args.pg_url) if args.pg else contextlib.nullcontext(None) as database_url,
            servers.totpflow_server(Path(directory), workers=args.workers, database_url=database_url) as (
                server,
                pid,
            ),
        ):
            _warm(server, args, check=True)
            database = postgres_cpu_seconds() if args.pg else 0.0
            result, cpu, switches = _measure(server, pid, args, check=True)
            database_cpu = postgres_cpu_seconds() - database if args.pg else 0.0
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    return _figures(result, cpu, database_cpu, switches)


def _figures(result: LoadResult, cpu: float, database_cpu: float, switches: int) -> dict[str, float]:
    flows = max(1, len(result.latencies))
    latencies = sorted(result.latencies) or [0.0]
    return {
        "flows_per_s": result.flows_per_s,
        "p50_ms": latencies[len(latencies) // 2] * 1000,
        "p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000,
        "errors": result.errors,
        "server_cpu_us_per_flow": cpu / flows * 1e6,
        "database_cpu_us_per_flow": database_cpu / flows * 1e6,
        "context_switches_per_flow": switches / flows,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("variants", nargs="*", metavar="NAME=PATH", help=f"PATH: a folder, or {INSTALLED}")
    parser.add_argument("--env", action="append", default=[], metavar="NAME:VAR=VALUE")
    parser.add_argument("--smoke", action="store_true", help="one short round: installed, canned")
    parser.add_argument("--pg", action="store_true", help="PostgreSQL instead of SQLite")
    parser.add_argument("--pg-url", default=os.environ.get("TOTPFLOW_TEST_DATABASE_URL", servers.PG_DEFAULT))
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=32, help="closed-loop connections (default 32)")
    parser.add_argument(
        "--rate", type=float, default=0.0, help="an open loop of this many flows/s instead of the closed loop"
    )
    parser.add_argument("--seconds", type=float, default=8.0, help="bound of each load run (default 8)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=100, help="flows before each measurement")
    parser.add_argument("--output", type=Path, default=servers.RESULTS / "compare_load.json")
    args = parser.parse_args()
    if args.smoke:
        smoke = [f"{INSTALLED}={INSTALLED}", *(f"{kind}={kind}" for kind in canned.KINDS)]
        args.variants = args.variants or smoke
        args.seconds, args.rounds, args.concurrency, args.warmup = 1.0, 1, 4, 5
    if not args.variants:
        parser.error("give at least one NAME=PATH")
    for variant in args.variants:
        name, _, path = variant.partition("=")
        if not name or not path:
            parser.error(f"{variant!r}: expected NAME=PATH")
    variants = dict(variant.split("=", 1) for variant in args.variants)
    envs: dict[str, dict[str, str]] = {name: {} for name in variants}
    for setting in args.env:
        name, _, assignment = setting.partition(":")
        variable, _, value = assignment.partition("=")
        if name not in envs or not variable:
            parser.error(f"--env {setting!r}: expected NAME:VAR=VALUE for a NAME given")
        envs[name][variable] = value
    with tempfile.TemporaryDirectory(prefix="compare-load-") as scratch:
        if any(path in canned.KINDS for path in variants.values()):
            args.bodies = canned.capture_bodies(Path(scratch))
        return _compare(args, variants, envs)


def _compare(args: argparse.Namespace, variants: dict[str, str], envs: dict[str, dict[str, str]]) -> int:
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in variants}
    for index in range(args.rounds):
        order = list(variants) if index % 2 == 0 else list(reversed(variants))
        for name in order:
            figures = _one(variants[name], envs[name], args)
            runs[name].append(figures)
            print(f"round {index}: {name}: {figures['flows_per_s']:.1f} flows/s", flush=True)
    table: dict[str, Any] = {}
    for name, rounds in runs.items():
        row: dict[str, Any] = {
            key: round(statistics.median(r[key] for r in rounds), 1) for key in rounds[0] if key != "errors"
        }
        row["rounds_flows_per_s"] = [round(r["flows_per_s"], 1) for r in rounds]
        row["rounds_p99_ms"] = [round(r["p99_ms"], 1) for r in rounds]
        row["errors"] = sum(r["errors"] for r in rounds)
        table[name] = row
    first = next(iter(table.values()))["flows_per_s"]
    for row in table.values():
        row["flows_per_s_vs_first"] = round(row["flows_per_s"] / first, 2) if first else None
    results = {
        "machine": servers.machine(),
        "backend": "postgresql" if args.pg else "sqlite",
        "workers": args.workers,
        "concurrency": args.concurrency,
        "rate": args.rate or None,
        "seconds": args.seconds,
        "rounds": args.rounds,
        "variants": {name: {"path": variants[name], "env": sorted(envs[name])} for name in variants},
        "medians": table,
    }
    servers.write_results(args.output, results, show=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
