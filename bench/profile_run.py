"""Where a whole ``totpflow run`` process spends its time: import trace and pyinstrument of one real run.

    .venv/bin/python bench/profile_run.py [--source ours|upstream] [--smoke]

Runs the 3-step workflow of ``bench_workflow_runs.py`` once against a fresh local server, first under
``python -X importtime`` (prints the heaviest imports by cumulative time and the total), then under
``pyinstrument -m totpflow run …`` (prints its call tree). Whole-process runs of a short workflow are
dominated by start-up, so this is the profile to read when the per-run target is missed.

Last, the floors under a run (``--floor-runs``, default 15, rounds interleaved): the median wall time of an
interpreter that only imports what the runner cannot start without (nothing; msgspec, whose Structs are the
document model and the expression AST; then ``http.client``, the plain HTTP sender; then the engine and the
CLI's argument parser), against the whole ``totpflow run``. Without ``-X importtime``'s own overhead.

Every interpreter runs with byte-code caching on (without ``PYTHONDONTWRITEBYTECODE``), as an installed tool
runs and as ``bench_workflow_runs.py`` measures: otherwise each would compile the modules it imports.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import bench_workflow_runs
import servers

CACHING = {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}
FLOORS = {
    "interpreter": "pass",
    "+ msgspec": "import msgspec",
    "+ http.client": "import msgspec, http.client",
    "+ engine, argparse": "import msgspec, http.client, argparse, totpflow.cli, totpflow.arazzo.engine",
}


def floors(run: list[str], runs: int, cwd: str) -> dict[str, float]:
    """Median wall milliseconds of each ``FLOORS`` interpreter and of ``run`` (the whole ``totpflow run``)."""
    commands = {name: [sys.executable, "-c", code] for name, code in FLOORS.items()}
    commands["totpflow run"] = run
    samples: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(runs):
        for name, command in commands.items():
            started = time.perf_counter()
            subprocess.run(command, capture_output=True, cwd=cwd, check=True, timeout=120, env=CACHING)
            samples[name].append((time.perf_counter() - started) * 1000)
    return {name: round(statistics.median(values), 1) for name, values in samples.items()}


def heaviest_imports(trace: str, count: int) -> tuple[float, list[tuple[float, str]]]:
    """Total top-level import milliseconds and the ``count`` heaviest modules by cumulative time."""
    rows: list[tuple[float, str]] = []
    total = 0.0
    for line in trace.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        _, cumulative, name = line.split(":", 1)[1].split("|")
        name = name[1:].rstrip()
        if not name.startswith(" "):
            total += int(cumulative) / 1000
        rows.append((int(cumulative) / 1000, name))
    return total, sorted(rows, reverse=True)[:count]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", choices=["ours", "upstream"], default="upstream")
    parser.add_argument("--smoke", action="store_true", help="our OpenAPI, import trace only")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--floor-runs", type=int, default=15, help="rounds of the floor measurement")
    args = parser.parse_args()
    openapi = (
        servers.upstream_openapi() if args.source == "upstream" and not args.smoke else servers.OUR_OPENAPI
    )
    assert openapi is not None
    with tempfile.TemporaryDirectory(prefix="bench-profile-run-") as tmp:
        with servers.totpflow_server(Path(tmp)) as (server, _pid):
            doc = bench_workflow_runs.prepare(Path(tmp) / "doc", openapi, server.base_url)
            argv = bench_workflow_runs.commands(doc, bench_workflow_runs.inputs(server))["totpflow"][0]
            tail = argv[1:]  # after the console script: run DOC …
            traced = subprocess.run(
                [sys.executable, "-X", "importtime", "-m", "totpflow", *tail],
                capture_output=True,
                text=True,
                timeout=120,
                cwd=tmp,
                env=CACHING,
            )
            if traced.returncode != 0:
                print(traced.stdout[-2000:])
                return 1
            total, rows = heaviest_imports(traced.stderr, args.top)
            print(
                f"source: {openapi.name} ({openapi.stat().st_size} bytes); imports: {total:.1f} ms in total"
            )
            for milliseconds, name in rows:
                print(f"  {milliseconds:8.1f} ms  {name}")
            print("median wall ms, interpreters that only import (rounds interleaved):")
            measured = floors(argv, 2 if args.smoke else args.floor_runs, tmp)
            for name, milliseconds in measured.items():
                print(f"  {milliseconds:8.1f} ms  {name}")
            if args.smoke or importlib.util.find_spec("pyinstrument") is None:
                return 0
            argv = bench_workflow_runs.commands(doc, bench_workflow_runs.inputs(server))["totpflow"][0]
            pyinstrument = [sys.executable, "-m", "pyinstrument", "-r", "text", "-i", "0.0005"]
            profiled = subprocess.run(
                [*pyinstrument, "-m", "totpflow", *argv[1:]],
                capture_output=True,
                text=True,
                timeout=120,
                cwd=tmp,
                env=CACHING,
            )
            lines = profiled.stdout.splitlines()
            start = next((i for i, line in enumerate(lines) if "Recorded:" in line), 0)
            shown = (line for line in lines[start:] if _significant(line) and not line.startswith("Program:"))
            print("\n".join(shown))  # "Program:" would repeat the command line and its credentials
    return 0


def _significant(line: str) -> bool:
    """Tree lines of at least 10 ms (pyinstrument prints the seconds first)."""
    stripped = line.lstrip(" |`-\u2502\u251c\u2514\u2500")
    head = stripped.split(" ", 1)[0]
    try:
        return float(head) >= 0.010
    except ValueError:
        return True


if __name__ == "__main__":
    raise SystemExit(main())
