"""Enrollment flows per second and flow latency of ``totpflow serve`` on loopback, against its in-process
floor and against Prism mocking Stytch's OpenAPI.

    .venv/bin/python bench/bench_server.py [--smoke] [--seconds S] [--concurrency C] [--rate R] [--no-pg]

One flow is the enrollment of stytch-api.md §4: ``POST /v1/users`` (a fresh user) → ``POST /v1/totps`` →
``POST /v1/totps/authenticate`` with the RFC 6238 code of the returned secret (pyotp) and
``session_duration_minutes`` (so a session is minted). Measured for SQLite and PostgreSQL, 1 and 2 workers:

* throughput: closed loop, ``--concurrency`` keep-alive connections (flows/s, p50/p95/p99);
* latency at a fixed arrival rate (``--rate``, default 250 flows/s; open loop, so queueing is charged), and
  at half the closed-loop throughput just measured (latency of a server that is busy but not overloaded);
* the in-process floor: the same service calls as the server makes them (the remembered credential, then
  the use case under ``services.run_as``, three times per flow) made directly on ``totpflow.server.services``
  in this process, no HTTP — the ratio says how much of a worker's time the HTTP stack keeps;
* Prism (``prism mock`` of the upstream OpenAPI): the same three requests, closed loop, requests/s.

The load generator (``bench/loadgen.py``) shares the machine; its own CPU is reported next to every figure,
and so is the server's (from /proc). Results go to ``bench/results/server.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import msgspec
import pyotp
import servers
from loadgen import Connection, HttpError, LoadResult, closed_loop, open_loop

from totpflow.testing import StytchServer

Flow = Callable[[Connection, int], Any]
REQUESTS_PER_FLOW = 3


def enrollment_flow(server: StytchServer, tag: str, *, check: bool = True) -> Flow:
    """The three-request enrollment against ``server``; ``check=False`` accepts any 2xx (Prism's canned
    answers carry example ids and secrets)."""
    auth = b"Authorization: Basic %s\r\n" % base64.b64encode(f"{server.project_id}:{server.secret}".encode())
    encode = msgspec.json.encode
    decode = msgspec.json.decode

    async def flow(connection: Connection, number: int) -> None:
        status, body = await connection.request(
            "POST", "/v1/users", encode({"email": f"bench-{tag}-{number}@example.com"}), auth
        )
        if status != 200:
            raise HttpError(f"create user: {status}")
        user_id = decode(body)["user_id"]
        status, body = await connection.request("POST", "/v1/totps", encode({"user_id": user_id}), auth)
        if status != 200:
            raise HttpError(f"create totp: {status}")
        secret = decode(body)["secret"]
        try:
            code = pyotp.TOTP(secret).now()
        except Exception:  # Prism's example secret need not be base32
            code = "123456"
        payload = {"user_id": user_id, "totp_code": code, "session_duration_minutes": 60}
        status, body = await connection.request("POST", "/v1/totps/authenticate", encode(payload), auth)
        if status != 200:
            raise HttpError(f"authenticate: {status}")
        if check and not decode(body).get("session_token"):
            raise HttpError("authenticate: no session token")

    return flow


def in_process_floor(database_url: str, flows: int, seconds: float) -> dict[str, float | int]:
    """Enrollment flows/s with the service calls of the three routes made directly, one thread, no HTTP.

    Each call is made as the tree's server makes it: under ``services.run_as`` with the remembered
    credential where the tree has it, else after ``authenticate_project``; so ``compare_floor.py`` runs
    this same function against an older tree. Statements and transactions: SQLAlchemy's
    ``before_cursor_execute``/``begin`` events for queries sent through Core, plus the store's ``observe``
    hook (per-request plain SQL) where the tree has one; BEGIN and COMMIT are not statements.
    ``write_transaction_share``: the share of the wall time spent inside write transactions, which on SQLite
    hold the write lock that every process's writers queue for (what bounds the gain of a second worker)."""
    from sqlalchemy import event

    from totpflow.server import services
    from totpflow.server.config import Settings
    from totpflow.server.wiring import build_deps

    env = {**os.environ, "TOTPFLOW_DATABASE_URL": database_url}
    if not database_url.startswith("sqlite"):
        env.update(servers.pg_env(database_url))
    deps = build_deps(Settings.load(env))
    store: Any = deps.store
    run_as = getattr(services, "run_as", None)
    try:
        project, secret = services.create_project(deps)
        pid = project.project_id
        tag = uuid.uuid4().hex[:8]

        def call(service: Any, **arguments: Any) -> Any:
            if run_as is None:
                return service(deps, services.authenticate_project(deps, pid, secret), **arguments)
            credential = services.remembered_credential(deps, pid, secret)
            credential = credential or services.authenticate_credential(deps, pid, secret)
            return run_as(deps, credential, service, **arguments)

        def one(number: int) -> None:
            user = call(services.create_user, email=f"floor-{tag}-{number}@example.com")
            totp = call(services.create_totp, user_id=user.user_id)
            result = call(
                services.authenticate_totp,
                user_id=user.user_id,
                totp_code=pyotp.TOTP(totp.secret).now(),
                session_duration_minutes=60,
            )
            assert result.session_token

        for number in range(min(50, flows)):  # warm-up: caches, connection pool, prepared statements
            one(-1 - number)
        statements = [0]
        transactions = [0]

        def count(_connection: object, _cursor: object, text: str, *_: object) -> None:
            if not text.startswith("BEGIN"):
                statements[0] += 1

        def count_transaction(*_: object) -> None:
            transactions[0] += 1

        def observed(text: str) -> None:
            if text == "BEGIN":
                transactions[0] += 1
            else:
                statements[0] += 1

        if hasattr(store, "observe"):
            store.observe = observed
        for engine in store.engines:
            event.listen(engine, "before_cursor_execute", count)
            event.listen(engine, "begin", count_transaction)
        writing = [0.0]  # wall time inside write transactions: on SQLite, the write lock of every process
        transaction = store.transaction

        @contextlib.contextmanager
        def timed(*, readonly: bool = False, **options: Any) -> Iterator[Any]:
            if readonly:
                with transaction(readonly=True, **options) as tx:
                    yield tx
                return
            start = time.perf_counter()
            try:
                with transaction(**options) as tx:
                    yield tx
            finally:
                writing[0] += time.perf_counter() - start

        store.transaction = timed
        done = 0
        cpu0 = time.process_time()
        begin = time.perf_counter()
        deadline = begin + seconds
        while done < flows and time.perf_counter() < deadline:
            one(done)
            done += 1
        wall = time.perf_counter() - begin
        cpu = time.process_time() - cpu0
        del store.transaction
        if hasattr(store, "observe"):
            store.observe = None
        for engine in store.engines:
            event.remove(engine, "before_cursor_execute", count)
            event.remove(engine, "begin", count_transaction)
    finally:
        store.dispose()
    return {
        "flows": done,
        "wall_s": round(wall, 3),
        "flows_per_s": round(done / wall, 1),
        "us_per_flow": round(wall / done * 1e6, 1),
        "cpu_s": round(cpu, 3),
        "cpu_us_per_flow": round(cpu / done * 1e6, 1),
        "sql_statements_per_flow": round(statements[0] / done, 1) if done else 0,
        "transactions_per_flow": round(transactions[0] / done, 1) if done else 0,
        "write_transaction_share": round(writing[0] / wall, 3) if wall else 0.0,
    }


async def _measure(
    server: StytchServer, pid: int, kind: str, args: argparse.Namespace, tag: str, rate: float = 0.0
) -> dict[str, Any]:
    flow = enrollment_flow(server, tag)
    pids = servers.descendants(pid)
    # warm-up: JIT-free but caches, pools and the first sessions; not counted
    await closed_loop(server.base_url, flow, concurrency=4, max_flows=args.warmup, max_seconds=10)
    server_cpu0 = servers.cpu_seconds(pids)
    result: LoadResult
    if kind == "closed":
        result = await closed_loop(
            server.base_url,
            enrollment_flow(server, tag + "c"),
            concurrency=args.concurrency,
            max_flows=args.max_flows,
            max_seconds=args.seconds,
            requests_per_flow=REQUESTS_PER_FLOW,
        )
    else:
        result = await open_loop(
            server.base_url,
            enrollment_flow(server, tag + "o"),
            rate=rate,
            max_flows=args.max_flows,
            max_seconds=args.seconds,
            requests_per_flow=REQUESTS_PER_FLOW,
        )
    server_cpu = servers.cpu_seconds(pids) - server_cpu0
    return {
        **result.summary(),
        "server_cpu_s": round(server_cpu, 3),
        "server_cpu_share": round(server_cpu / result.wall_s, 3) if result.wall_s else 0.0,
        **({"rate": rate} if kind == "open" else {}),
    }


def run_config(db: str, workers: int, args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-server-") as tmp:
        directory = Path(tmp)
        if db == "sqlite":
            return _run_config(directory, workers, None, args)
        with servers.pg_schema(args.pg_url) as url:
            return _run_config(directory, workers, url, args)


def _run_config(directory: Path, workers: int, url: str | None, args: argparse.Namespace) -> dict[str, Any]:
    with servers.totpflow_server(directory, workers=workers, database_url=url) as (server, pid):
        tag = uuid.uuid4().hex[:8]
        closed = asyncio.run(_measure(server, pid, "closed", args, tag))
        opened = asyncio.run(_measure(server, pid, "open", args, tag + "r", args.rate))
        # and at half the measured capacity, where a server that misses the fixed rate is not overloaded
        half = max(1.0, round(closed["flows_per_s"] / 2))
        at_half = asyncio.run(_measure(server, pid, "open", args, tag + "h", half))
        peak = max((servers.peak_rss_kib(p) for p in servers.descendants(pid)), default=0)
        return {
            "closed_loop": closed,
            "open_loop": opened,
            "open_loop_half_capacity": at_half,
            "peak_rss_mib": round(peak / 1024, 1),
        }


def run_prism(args: argparse.Namespace) -> dict[str, Any] | None:
    openapi = servers.upstream_openapi()
    if servers.prism() is None or openapi is None:
        return None
    with servers.prism_server(openapi) as base_url:
        fake = StytchServer(base_url, "project-test-00000000-0000-0000-0000-000000000000", "secret", "")
        flow = enrollment_flow(fake, "prism", check=False)

        async def measure() -> LoadResult:
            await closed_loop(base_url, flow, concurrency=4, max_flows=args.warmup, max_seconds=10)
            return await closed_loop(
                base_url,
                flow,
                concurrency=args.concurrency,
                max_flows=args.max_flows,
                max_seconds=args.seconds,
                requests_per_flow=REQUESTS_PER_FLOW,
            )

        return asyncio.run(measure()).summary()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="a few seconds: SQLite, 1 worker, tiny loads")
    parser.add_argument("--seconds", type=float, default=10.0, help="bound of each load run (default 10)")
    parser.add_argument("--max-flows", type=int, default=20_000, help="bound of each load run")
    parser.add_argument("--concurrency", type=int, default=32, help="closed-loop connections (default 32)")
    parser.add_argument("--rate", type=float, default=250.0, help="open-loop flows/s (default 250)")
    parser.add_argument("--warmup", type=int, default=200, help="flows before each measurement")
    parser.add_argument("--pg-url", default=os.environ.get("TOTPFLOW_TEST_DATABASE_URL", servers.PG_DEFAULT))
    parser.add_argument("--no-pg", action="store_true", help="skip PostgreSQL")
    parser.add_argument("--no-prism", action="store_true", help="skip Prism")
    parser.add_argument("--workers", default="1,2", help="comma-separated worker counts (default 1,2)")
    parser.add_argument("--output", type=Path, default=servers.RESULTS / "server.json")
    args = parser.parse_args()
    if args.smoke:
        args.seconds, args.max_flows, args.warmup, args.concurrency, args.rate = 2.0, 60, 10, 4, 20.0
        args.no_pg, args.no_prism, args.workers = True, True, "1"
    workers = [int(w) for w in args.workers.split(",")]
    databases = ["sqlite"] + ([] if args.no_pg else ["postgresql"])

    results: dict[str, Any] = {
        "machine": servers.machine(),
        "args": {**vars(args), "output": str(args.output)},
    }
    floor: dict[str, Any] = {}
    for db in databases:
        with tempfile.TemporaryDirectory(prefix="bench-floor-") as tmp:
            if db == "sqlite":
                floor[db] = in_process_floor(f"sqlite:///{tmp}/floor.db", args.max_flows, args.seconds)
            else:
                with servers.pg_schema(args.pg_url) as url:
                    floor[db] = in_process_floor(url, args.max_flows, args.seconds)
        print(f"in-process floor {db}: {floor[db]}", flush=True)
    results["in_process_floor"] = floor
    configs: dict[str, Any] = {}
    for db in databases:
        for count in workers:
            name = f"{db}-{count}w"
            configs[name] = run_config(db, count, args)
            closed = configs[name]["closed_loop"]
            closed["ratio_to_floor"] = round(closed["flows_per_s"] / floor[db]["flows_per_s"], 3)
            print(f"{name}: {json.dumps(configs[name])}", flush=True)
    results["http"] = configs
    if not args.no_prism:
        results["prism"] = run_prism(args)
        print(f"prism: {results['prism']}", flush=True)
    servers.write_results(args.output, results)
    errors = sum(
        c[kind]["errors"]
        for c in configs.values()
        for kind in ("closed_loop", "open_loop", "open_loop_half_capacity")
    )
    print(f"wrote {args.output}; errors: {errors}")
    return 1 if errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
