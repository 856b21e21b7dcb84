"""Every benchmark in bench/ runs end to end in its smoke mode, as a subprocess, so the benchmarks cannot rot.

Nothing here asserts on a timing: a smoke run only has to finish with exit code 0 and write its results.
Benchmarks that compare against peer tools skip when those tools are absent (``bench/setup-peers.sh``
installs them into git-ignored directories).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench"
JENTIC = BENCH / ".venv-jentic" / "bin" / "arazzo-runner"
REDOCLY = [
    BENCH / "node" / "node_modules" / ".bin" / "redocly",
    ROOT / ".ci" / "node" / "node_modules" / ".bin" / "redocly",
]

# script → (arguments, the JSON results file it writes, or None)
SMOKE = {
    "bench_server.py": (["--smoke"], "server.json"),
    "bench_app_path.py": (["--smoke"], "app_path.json"),
    "bench_micro.py": (["--smoke"], "micro.json"),
    "bench_memory.py": (["--smoke"], "memory.json"),
    "bench_sqlite_sync.py": (["--smoke"], "sqlite_sync.json"),
    "bench_sqlite_durable_load.py": (["--smoke"], "sqlite_durable_load.json"),
    "compare_load.py": (["--smoke"], "compare_load.json"),
    "bench_workflow_runs.py": (["--smoke"], "workflow_runs.json"),
    "profile_floor.py": (["--smoke"], None),
    "compare_floor.py": (["--smoke"], None),
    "profile_server.py": (["--smoke"], None),
    "profile_run.py": (["--smoke"], None),
    "runner_instructions.py": (["--smoke"], None),
    "bench_regex.py": (["--smoke"], None),
    # owned elsewhere; they have no --smoke flag, small counts do the same
    "bench_runner.py": (["--runs", "3", "--repeats", "1"], None),
    "bench_expressions.py": (["--number", "20"], None),
}


def _missing(script: str) -> str | None:
    if script == "bench_workflow_runs.py":
        if not JENTIC.exists():
            return "jentic arazzo-runner not installed (run bench/setup-peers.sh)"
        if not any(path.exists() for path in REDOCLY):
            return "Redocly CLI not installed (run bench/setup-peers.sh)"
    if script == "profile_floor.py" and importlib.util.find_spec("pyinstrument") is None:
        return "pyinstrument not installed (pip install -e '.[bench]')"
    if script == "profile_server.py" and not Path(sys.executable).with_name("py-spy").exists():
        return "py-spy not installed (pip install py-spy)"
    return None


@pytest.mark.parametrize("script", sorted(SMOKE))
def test_benchmark_smoke_mode_runs(script: str, tmp_path: Path) -> None:
    reason = _missing(script)
    if reason:
        pytest.skip(reason)
    arguments, results = SMOKE[script]
    output = tmp_path / (results or "unused.json")
    if results:
        arguments = [*arguments, "--output", str(output)]
    done = subprocess.run(
        [sys.executable, str(BENCH / script), *arguments],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    if results:
        data = json.loads(output.read_text())
        assert data["machine"]["cores"] >= 1


@pytest.mark.parametrize(
    ("variant", "extra"),
    [("mock=prism", []), ("ours=installed", ["--pg"]), ("ours=installed", ["--rate", "20"])],
    ids=["prism", "postgresql", "open-loop"],
)
def test_compare_load_smoke_with_prism_or_postgresql(variant: str, extra: list[str], tmp_path: Path) -> None:
    """``compare_load.py``'s other kinds of variant: Prism as a peer, and a server on PostgreSQL (whose CPU
    time it also reports); and an open loop at a fixed rate instead of the closed loop."""
    if variant == "mock=prism":
        upstream = ROOT.parent / "shared" / "reference" / "stytch-consumer-openapi.upstream.yml"
        upstream = Path(os.environ.get("TOTPFLOW_UPSTREAM_OPENAPI", str(upstream)))
        if not (BENCH / "node" / "node_modules" / ".bin" / "prism").exists() or not upstream.is_file():
            pytest.skip("Prism or Stytch's upstream OpenAPI is missing (run bench/setup-peers.sh)")
    elif "--pg" in extra and not os.environ.get("TOTPFLOW_TEST_DATABASE_URL"):
        pytest.skip("TOTPFLOW_TEST_DATABASE_URL is not set")
    output = tmp_path / "compare_load.json"
    done = subprocess.run(
        [sys.executable, str(BENCH / "compare_load.py"), "--smoke", *extra, variant, "--output", str(output)],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    medians = json.loads(output.read_text())["medians"]
    (row,) = medians.values()
    assert row["errors"] == 0 and row["flows_per_s"] > 0
    if "--pg" in extra:
        assert row["database_cpu_us_per_flow"] > 0
    if "--rate" in extra:
        assert json.loads(output.read_text())["rate"] == 20
        assert 0 < row["p50_ms"] <= row["p99_ms"]
