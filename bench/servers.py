"""The processes the benchmarks measure: ``totpflow serve`` (1 or N workers, SQLite or PostgreSQL) and peers.

:func:`totpflow_server` is :func:`totpflow.testing.run_server` when one worker is asked for; for more
workers it starts the same command with ``--workers N`` (``run_server`` has no such parameter). Every server
listens on 127.0.0.1 only. Peer tools live in git-ignored directories that ``bench/setup-peers.sh`` fills.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import platform
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from totpflow.testing import StytchServer, run_server

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
RESULTS = BENCH / "results"
# The shared reference material sits beside the checkout.
UPSTREAM_OPENAPI = ROOT.parent / "shared" / "reference" / "stytch-consumer-openapi.upstream.yml"
OUR_OPENAPI = ROOT / "openapi" / "stytch-consumer-openapi.yml"
JENTIC = BENCH / ".venv-jentic" / "bin"
NODE_BIN = BENCH / "node" / "node_modules" / ".bin"
PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432/test"
PEER_ENV = {"REDOCLY_TELEMETRY": "off", "REDOCLY_SUPPRESS_UPDATE_NOTICE": "true", "NO_COLOR": "1"}


def upstream_openapi() -> Path | None:
    """Stytch's real consumer OpenAPI (1 MB), from ``$TOTPFLOW_UPSTREAM_OPENAPI`` or the shared reference."""
    path = Path(os.environ.get("TOTPFLOW_UPSTREAM_OPENAPI", str(UPSTREAM_OPENAPI)))
    return path if path.is_file() else None


def prism() -> Path | None:
    path = NODE_BIN / "prism"
    return path if path.exists() else None


def redocly() -> Path | None:
    for path in (NODE_BIN / "redocly", ROOT / ".ci" / "node" / "node_modules" / ".bin" / "redocly"):
        if path.exists():
            return path
    return None


def jentic() -> Path | None:
    path = JENTIC / "arazzo-runner"
    return path if path.exists() else None


def machine() -> dict[str, str | int]:
    """Cores, CPU model, Python version and current load of this machine, for every results table (the
    benchmark machine is shared: a load average above the core count means other work competed)."""
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "cores": os.cpu_count() or 0,
        "cpu": model,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "loadavg_1m_5m_15m": " ".join(f"{value:.2f}" for value in os.getloadavg()),
    }


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_http(url: str, process: subprocess.Popen[bytes], timeout: float, log: Path) -> None:
    """Return once ``url`` answers below 500; ``RuntimeError`` with the tail of ``log`` if ``process`` exits
    or ``timeout`` passes first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"{process.args!r} exited with {process.returncode}:\n{log.read_text()[-2000:]}"
            )
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status < 500:
                    return
        except urllib.error.HTTPError as exc:
            if exc.code < 500:
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{process.args!r} did not answer within {timeout} s:\n{log.read_text()[-2000:]}")


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL after 15 s."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def pg_env(database_url: str) -> dict[str, str]:
    """The environment a PostgreSQL-backed server needs: a fresh master key (it refuses to start without)."""
    return {"TOTPFLOW_MASTER_KEY": base64.b64encode(secrets.token_bytes(32)).decode()}


@contextlib.contextmanager
def pg_schema(base_url: str) -> Iterator[str]:
    """A fresh PostgreSQL schema (dropped afterwards), as a URL whose connections use it via ``search_path``,
    so parallel benchmark and test runs never share tables."""
    import psycopg

    schema = f"totpflow_bench_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(base_url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        yield f"{base_url}{'&' if '?' in base_url else '?'}options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(base_url, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


@contextlib.contextmanager
def totpflow_server(
    directory: Path, *, workers: int = 1, database_url: str | None = None
) -> Iterator[tuple[StytchServer, int]]:
    """A fresh ``totpflow serve`` (``workers`` processes) and the pid of its main process."""
    env = pg_env(database_url) if database_url else {}
    if workers == 1:
        before = set(_children())
        with run_server(directory, database_url=database_url, env=env) as server:
            pid = next(iter(set(_children()) - before), 0)
            yield server, pid
        return
    project_id = f"project-test-{uuid.uuid4()}"
    secret = "secret-test-" + base64.urlsafe_b64encode(secrets.token_bytes(27)).decode()
    url = database_url or f"sqlite:///{directory / 'totpflow.db'}"
    port = free_port()
    log_path = directory / f"server-{port}.log"
    argv = [sys.executable, "-m", "totpflow", "serve", "--host", "127.0.0.1", "--port", str(port)]
    argv += ["--workers", str(workers)]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            argv,
            env={
                **os.environ,
                "TOTPFLOW_PROJECT_ID": project_id,
                "TOTPFLOW_PROJECT_SECRET": secret,
                "TOTPFLOW_DATABASE_URL": url,
                **env,
            },
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            base_url = f"http://127.0.0.1:{port}"
            wait_http(base_url + "/openapi.json", process, 60, log_path)
            yield StytchServer(base_url, project_id, secret, url), process.pid
        finally:
            stop(process)


def _children() -> list[int]:
    """Pids of this process's direct children (from /proc)."""
    me = os.getpid()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            stat = (entry / "stat").read_text()
            if int(stat.rsplit(")", 1)[1].split()[1]) == me:
                found.append(int(entry.name))
    return found


def descendants(pid: int) -> list[int]:
    """``pid`` and every process below it."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            parents.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(parents.get(current, []))
    return found


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds so far of the given live processes (from /proc/PID/stat)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def context_switches(pids: list[int]) -> int:
    """Context switches so far (voluntary and involuntary) of every thread of the given live processes."""
    total = 0
    for pid in pids:
        for status in Path(f"/proc/{pid}/task").glob("*/status"):
            with contextlib.suppress(OSError, IndexError, ValueError):
                for line in status.read_text().splitlines():
                    if "ctxt_switches:" in line:
                        total += int(line.split()[1])
    return total


def peak_rss_kib(pid: int) -> int:
    """VmHWM (peak resident set) of a live process, in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


@contextlib.contextmanager
def prism_server(openapi: Path) -> Iterator[str]:
    """``prism mock`` of ``openapi`` on a free loopback port; yields its base URL."""
    with prism_process(openapi) as (base_url, _):
        yield base_url


@contextlib.contextmanager
def prism_process(openapi: Path) -> Iterator[tuple[str, int]]:
    """``prism mock`` of ``openapi`` on a free loopback port; yields its base URL and its process id (the
    leader of its process group: ``descendants`` gives the Node processes whose CPU time counts)."""
    binary = prism()
    if binary is None:
        raise RuntimeError("Prism is not installed (bench/setup-peers.sh)")
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="prism-") as tmp:
        log_path = Path(tmp) / "prism.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [str(binary), "mock", str(openapi), "-h", "127.0.0.1", "-p", str(port), "--errors"],
                env={**os.environ, **PEER_ENV},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            try:
                wait_http(f"http://127.0.0.1:{port}/v1/sessions/jwks/x", process, 90, log_path)
                yield f"http://127.0.0.1:{port}", process.pid
            finally:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
                stop(process)


def node_available() -> bool:
    return shutil.which("node") is not None


def write_results(output: Path, results: dict[str, Any], *, show: bool = False) -> None:
    """Write a benchmark's results as JSON to ``output`` (its folder made if need be); ``show``: print."""
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(results, indent=2) + "\n")
    if show:
        print(json.dumps(results, indent=1))
