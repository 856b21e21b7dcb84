"""What ``synchronous=FULL`` costs the transactions that consume a TOTP step or a recovery code, on SQLite.

    .venv/bin/python bench/bench_sqlite_sync.py [--smoke] [--users N] [--rounds R] [--dir PATH]

With WAL and ``synchronous=NORMAL`` a commit is not flushed to disk, so a power cut can lose the last accepted
TOTP step (or used recovery code) and let that code be replayed once. ``Store.transaction(durable=True)``
commits those transactions with ``FULL`` instead. This measures both, side by side in one run and on the same
disk: two stores in the same folder, one with durable commits and one with them turned off
(``Store.durable_commits = False``, every commit ``NORMAL``), alternating rounds so that noise from other
processes falls on both.

Each round calls the real services (``authenticate_totp`` with a valid code of a new time step for each of N
users, then ``recover`` with one unused recovery code each), single-threaded, and reports the median over the
rounds of the mean milliseconds per call, and the FULL/NORMAL ratio. Results go to
``bench/results/sqlite_sync.json``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import servers

from totpflow.server import services
from totpflow.server.crypto import Cipher
from totpflow.server.domain import totp
from totpflow.server.domain.models import Project, TotpCreated
from totpflow.server.policy import Policy
from totpflow.server.storage import open_store


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, 0, 0, 10, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def _setup(folder: Path, durable: bool, users: int) -> tuple[services.Deps, Project, list[TotpCreated]]:
    store = open_store(f"sqlite:///{folder / ('full.db' if durable else 'normal.db')}")
    store.durable_commits = durable
    policy = Policy(rate_limit_user=None, rate_limit_project=None)
    deps = services.Deps(store=store, clock=Clock(), cipher=Cipher(os.urandom(32)), policy=policy)
    project, _ = services.create_project(deps, name="bench")
    enrolled = []
    for i in range(users):
        user = services.create_user(deps, project, email=f"user{i}@example.com")
        enrolled.append(services.create_totp(deps, project, user_id=user.user_id))
    return deps, project, enrolled


def _round(
    deps: services.Deps, project: Project, enrolled: list[TotpCreated], index: int
) -> dict[str, float]:
    clock = deps.clock
    assert isinstance(clock, Clock)
    clock.now += timedelta(seconds=30)  # a new time step: every user has a fresh valid code
    codes = [totp.hotp(totp.decode_secret(e.secret), int(clock.now.timestamp()) // 30) for e in enrolled]
    begin = time.perf_counter()
    for created, code in zip(enrolled, codes, strict=True):
        services.authenticate_totp(deps, project, user_id=created.user.user_id, totp_code=code)
    authenticate = (time.perf_counter() - begin) / len(enrolled)
    begin = time.perf_counter()
    for created in enrolled:
        code = created.recovery_codes[index % len(created.recovery_codes)]
        services.recover(deps, project, user_id=created.user.user_id, recovery_code=code)
    recover = (time.perf_counter() - begin) / len(enrolled)
    return {"authenticate_ms": authenticate * 1000, "recover_ms": recover * 1000}


def measure(folder: Path, users: int, rounds: int) -> dict[str, Any]:
    stores = {mode: _setup(folder, mode == "FULL", users) for mode in ("NORMAL", "FULL")}
    samples: dict[str, list[dict[str, float]]] = {"NORMAL": [], "FULL": []}
    for index in range(rounds):
        for mode in ("NORMAL", "FULL") if index % 2 == 0 else ("FULL", "NORMAL"):
            samples[mode].append(_round(*stores[mode], index))
    for deps, _, _ in stores.values():
        deps.store.dispose()
    result: dict[str, Any] = {}
    for what in ("authenticate_ms", "recover_ms"):
        normal = statistics.median(s[what] for s in samples["NORMAL"])
        full = statistics.median(s[what] for s in samples["FULL"])
        result[what.removesuffix("_ms")] = {
            "normal_ms": round(normal, 3),
            "full_ms": round(full, 3),
            "full_over_normal": round(full / normal, 2),
            "added_ms": round(full - normal, 3),
        }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="3 users, 2 rounds")
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=9, help="at most 10: each round uses one recovery code")
    parser.add_argument("--dir", type=Path, help="folder for the two databases (default: a temporary one)")
    parser.add_argument("--output", type=Path, default=servers.RESULTS / "sqlite_sync.json")
    args = parser.parse_args()
    users, rounds = (3, 2) if args.smoke else (args.users, min(args.rounds, 10))
    with tempfile.TemporaryDirectory(prefix="totpflow-sync-", dir=args.dir) as folder:
        figures = measure(Path(folder), users, rounds)
    results = {
        "machine": servers.machine(),
        "users": users,
        "rounds": rounds,
        "single_thread": True,
        **figures,
    }
    servers.write_results(args.output, results, show=True)


if __name__ == "__main__":
    main()
