"""The in-process floor of this tree against a baseline tree, side by side in one run.

The floor is ``bench_server.in_process_floor``'s enrollment flow (create user → create TOTP → authenticate
with a 60-minute session; each call made as the tree's server makes it), one thread, no HTTP. Each run is a
fresh interpreter with ``PYTHONPATH`` set to a tree's ``src``; the trees alternate, in turn order reversed
every round. Statements and transactions are counted the same way for both trees (``in_process_floor``).

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
from pathlib import Path

HERE = Path(__file__).resolve().parent


def one(database_url: str, flows: int, seconds: float) -> dict[str, float | int]:
    """One floor run in this interpreter (the tree on ``sys.path``): ``bench_server.in_process_floor``, which
    calls the services as the tree's server does."""
    import bench_server

    return bench_server.in_process_floor(database_url, flows, seconds)


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
