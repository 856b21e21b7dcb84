"""The in-process floor of this tree against a baseline tree, side by side in one run.

The floor is ``bench_server.in_process_floor``'s enrollment flow (create user → create TOTP → authenticate
with a 60-minute session; each call made as the tree's server makes it), one thread, no HTTP. Each run is a
fresh interpreter with ``PYTHONPATH`` set to a tree's ``src``; the trees alternate, in turn order reversed
every round. Statements and transactions are counted the same way for both trees: SQLAlchemy's
``before_cursor_execute``/``begin`` events, plus the store's ``observe`` hook where the tree has one; BEGIN
and COMMIT are not statements.

    git worktree add --detach /tmp/base <before>
    .venv/bin/python bench/compare_floor.py --baseline /tmp/base --rounds 5 --flows 1000
    .venv/bin/python bench/compare_floor.py --baseline /tmp/base --database-url postgresql://…/test
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def one(database_url: str, flows: int, seconds: float) -> dict[str, float]:
    """One floor run in this interpreter (the tree on ``sys.path``)."""
    import pyotp
    from sqlalchemy import event

    from totpflow.server import services
    from totpflow.server.app import build_deps
    from totpflow.server.config import Settings

    env = {**os.environ, "TOTPFLOW_DATABASE_URL": database_url}
    if not database_url.startswith("sqlite"):
        import servers

        env.update(servers.pg_env(database_url))
    deps = build_deps(Settings.load(env))
    project, secret = services.create_project(deps)
    pid = project.project_id
    tag = uuid.uuid4().hex[:8]

    run_as = getattr(services, "run_as", None)

    def call(service: Any, **arguments: Any) -> Any:
        """``service`` as the tree's server calls it: under ``services.run_as`` with the remembered credential
        where the tree has it; else after ``authenticate_project`` (which remembered successes itself)."""
        if run_as is None:
            return service(deps, services.authenticate_project(deps, pid, secret), **arguments)
        credential = services.remembered_credential(deps, pid, secret)
        credential = credential or services.authenticate_credential(deps, pid, secret)
        return run_as(deps, credential, service, **arguments)

    def flow(number: int) -> None:
        user = call(services.create_user, email=f"floor-{tag}-{number}@example.com")
        totp = call(services.create_totp, user_id=user.user_id)
        result = call(
            services.authenticate_totp,
            user_id=user.user_id,
            totp_code=pyotp.TOTP(totp.secret).now(),
            session_duration_minutes=60,
        )
        assert result.session_token

    for number in range(min(50, flows)):  # warm-up: caches, pool, prepared statements
        flow(-1 - number)
    statements = [0]
    transactions = [0]

    def sql_statement(_connection: object, _cursor: object, text: str, *_: object) -> None:
        if not text.startswith("BEGIN"):
            statements[0] += 1

    def sql_begin(*_: object) -> None:
        transactions[0] += 1

    def observed(text: str) -> None:
        if text == "BEGIN":
            transactions[0] += 1
        else:
            statements[0] += 1

    store: Any = deps.store
    for engine in store.engines:
        event.listen(engine, "before_cursor_execute", sql_statement)
        event.listen(engine, "begin", sql_begin)
    if hasattr(store, "observe"):
        store.observe = observed
    done = 0
    cpu = time.process_time()
    begin = time.perf_counter()
    while done < flows and time.perf_counter() < begin + seconds:
        flow(done)
        done += 1
    wall = time.perf_counter() - begin
    cpu = time.process_time() - cpu
    store.dispose()
    return {
        "flows": done,
        "us_per_flow": round(wall / done * 1e6, 1),
        "cpu_us_per_flow": round(cpu / done * 1e6, 1),
        "statements_per_flow": round(statements[0] / done, 2),
        "transactions_per_flow": round(transactions[0] / done, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", type=Path, help="a source tree (with src/ and bench/) to compare with")
    parser.add_argument("--database-url", default="", help="default: a fresh SQLite file per run")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--flows", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=120)
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--smoke", action="store_true", help="one short round of this tree alone")
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one(args.database_url, args.flows, args.seconds)))
        return
    if args.smoke:
        args.rounds, args.flows, args.baseline = 1, 20, None
    trees = {"this": HERE.parent}
    if args.baseline is not None:
        trees = {"baseline": args.baseline.resolve(), **trees}
    results: dict[str, list[dict[str, float]]] = {name: [] for name in trees}
    with tempfile.TemporaryDirectory() as scratch:
        for round_ in range(args.rounds):
            for name in list(trees) if round_ % 2 == 0 else list(reversed(trees)):
                tree = trees[name]
                url = args.database_url or f"sqlite:///{scratch}/{name}-{round_}.db"
                command = [sys.executable, str(HERE / "compare_floor.py"), "--one", "--database-url", url]
                command += ["--flows", str(args.flows), "--seconds", str(args.seconds)]
                env = {**os.environ, "PYTHONPATH": str(tree / "src")}
                out = subprocess.run(
                    command, cwd=tree / "bench", env=env, capture_output=True, text=True, check=True
                )
                result = json.loads(out.stdout.strip().splitlines()[-1])
                results[name].append(result)
                print(round_, name, result, flush=True)
    medians = {name: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for name, rs in results.items()}
    print(json.dumps({"database": args.database_url or "sqlite", "medians": medians}, indent=1))
    if "baseline" in medians:
        ratio = medians["baseline"]["us_per_flow"] / medians["this"]["us_per_flow"]
        cpu_ratio = medians["baseline"]["cpu_us_per_flow"] / medians["this"]["cpu_us_per_flow"]
        print(f"baseline ÷ this: wall {ratio:.2f}×, CPU {cpu_ratio:.2f}×")


if __name__ == "__main__":
    main()
