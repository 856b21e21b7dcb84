"""Where a ``totpflow serve`` worker spends its time under enrollment load: py-spy samples of the live worker.

    .venv/bin/python bench/profile_server.py [--seconds S] [--concurrency C] [--pg] [--gil] [--smoke]

Starts one worker on a fresh SQLite store (``--pg``: a fresh PostgreSQL schema), attaches ``py-spy record
--format raw`` (collapsed stacks, all threads, idle samples dropped; ``--gil``: only the GIL's holder) while
the closed-loop enrollment load of ``bench_server.py`` runs, then prints the share of all non-idle samples
by layer (``LAYERS``: each sample goes to the innermost frame of its stack that belongs to one), and the
functions with the most *self* samples and the most *inclusive* samples, grouped by ``file:function``.
This separates the HTTP stack (uvicorn, Starlette, the request log, the thread-pool hand-off) from the
service calls that ``profile_floor.py`` profiles in isolation. py-spy is a ``bench`` tool (pip install
py-spy); the script exits 0 with a note when it is missing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

import bench_server
import servers
from loadgen import closed_loop

FRAME = re.compile(r"^(?P<function>.*?) \((?P<file>[^:()]*)(?::\d+)?\)$")


def short(frame: str) -> str:
    """``file:function`` with the file relative to site-packages or the repository."""
    match = FRAME.match(frame.strip())
    if not match:
        return frame.strip()
    path = match["file"]
    for marker in ("site-packages/", "/src/", "python3.11/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{path}:{match['function']}"


# The layers of a worker, each named by the frames (``file:function`` prefixes) that belong to it. Frames of
# general-purpose modules (json, uuid, re, contextlib …) belong to none: their samples go to their caller's.
LAYERS: dict[str, tuple[str, ...]] = {
    "RS256 signing": ("jwt/",),
    "QR code": ("totpflow/server/domain/qr.py",),
    "SQL: the store and its drivers": ("totpflow/server/storage/", "sqlalchemy/", "psycopg", "sqlite3/"),
    "AES-GCM, keyed hashes": ("totpflow/server/crypto.py", "hmac.py", "cryptography/"),
    "services: the rest": (
        "totpflow/server/services/",
        "totpflow/server/domain/",
        "totpflow/server/rate_limits.py",
        "totpflow/server/lockout.py",
        "totpflow/server/policy.py",
        "totpflow/server/suspend.py",
        "greenlet",
    ),
    "request log": ("logging/", "access_log.py:JsonFormatter", "access_log.py:_timestamp"),
    "metrics": ("prometheus_client/", "metrics.py:"),
    "HTTP: routes, auth, bodies, responses": (
        "routes.py:",
        "auth.py:",
        "body.py:",
        "responses.py:",
        "dispatch.py:",
        "request_context.py:",
        "msgspec/",
    ),
    "HTTP: Starlette and the middleware": ("starlette/", "errors.py:", "headers.py:", "access_log.py:"),
    "HTTP: uvicorn, httptools, the socket": ("uvicorn/", "protocol.py:", "httptools"),
    "threads: hand-offs and waits": ("concurrent/futures/", "threading.py", "queue.py"),
    "the event loop": ("asyncio/", "uvloop/", "selectors.py"),
}


def layer_of(frames: list[str]) -> str:
    """The layer of the innermost frame (of ``frames``, outermost first) that belongs to one."""
    for frame in reversed(frames):
        for layer, prefixes in LAYERS.items():
            if any(prefix in frame for prefix in prefixes):
                return layer
    return "other"


def layers(raw: str) -> Counter[str]:
    """Non-idle samples per layer (``layer_of``) from py-spy's collapsed stacks."""
    counts: Counter[str] = Counter()
    for line in raw.splitlines():
        stack, _, count_text = line.rpartition(" ")
        frames = [short(frame) for frame in stack.split(";") if not frame.startswith(("process ", "thread "))]
        if frames and count_text.isdigit():
            counts[layer_of(frames)] += int(count_text)
    return counts


def aggregate(raw: str) -> tuple[Counter[str], Counter[str], int]:
    """Self and inclusive sample counts per ``file:function`` from py-spy's collapsed stacks."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in raw.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [short(frame) for frame in stack.split(";") if not frame.startswith("process ")]
        frames = [frame for frame in frames if not frame.startswith("thread ")]
        if not frames:
            continue
        total += count
        own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    return own, inclusive, total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument(
        "--pg", action="store_true", help="PostgreSQL (TOTPFLOW_TEST_DATABASE_URL or the default)"
    )
    parser.add_argument("--gil", action="store_true", help="only samples of the thread holding the GIL")
    args = parser.parse_args()
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not os.path.exists(py_spy):
        print("py-spy is not installed; nothing profiled")
        return 0
    if args.smoke:
        args.seconds, args.concurrency = 2.0, 4
    pg_url = os.environ.get("TOTPFLOW_TEST_DATABASE_URL", servers.PG_DEFAULT)
    with (
        tempfile.TemporaryDirectory(prefix="bench-pyspy-") as tmp,
        servers.pg_schema(pg_url) if args.pg else contextlib.nullcontext(None) as database_url,
    ):
        with servers.totpflow_server(Path(tmp), database_url=database_url) as (server, pid):
            flow = bench_server.enrollment_flow(server, "spy")
            asyncio.run(closed_loop(server.base_url, flow, concurrency=4, max_flows=50, max_seconds=10))
            out = Path(tmp) / "stacks.txt"
            command = [py_spy, "record", "--pid", str(pid), "--format", "raw", "--output", str(out)]
            command += ["--rate", "250", "--duration", str(int(args.seconds) + 1), "--nonblocking"]
            command += ["--gil"] if args.gil else []
            spy = subprocess.Popen(
                command,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            load = asyncio.run(
                closed_loop(
                    server.base_url,
                    bench_server.enrollment_flow(server, "spy2"),
                    concurrency=args.concurrency,
                    max_flows=100_000,
                    max_seconds=args.seconds,
                    requests_per_flow=bench_server.REQUESTS_PER_FLOW,
                )
            )
            _, err = spy.communicate(timeout=args.seconds + 60)
            if spy.returncode != 0 or not out.exists():
                print(f"py-spy failed ({spy.returncode}): {err.decode(errors='replace')[-500:]}")
                return 0
            raw = out.read_text()
    own, inclusive, total = aggregate(raw)
    print(f"load: {load.summary()}")
    print(f"non-idle samples: {total}")
    print("by layer (share of non-idle samples):")
    for name, count in layers(raw).most_common():
        print(f"  {count / total:6.1%}  {name}")
    print("top self (share of non-idle samples):")
    for name, count in own.most_common(args.top):
        print(f"  {count / total:6.1%}  {name}")
    print("top inclusive, totpflow / starlette / uvicorn / anyio / sqlalchemy frames:")
    interesting = ("totpflow/", "starlette/", "uvicorn/", "anyio/", "sqlalchemy/engine/base.py:execute")
    shown = 0
    for name, count in inclusive.most_common():
        if any(part in name for part in interesting):
            print(f"  {count / total:6.1%}  {name}")
            shown += 1
            if shown >= args.top:
                break
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
