"""Runner overhead per step in instructions, not seconds: repeatable whatever else the machine is doing.

    .venv/bin/python bench/runner_instructions.py [--runs N] [--smoke]

Runs the workload of ``bench_runner.py`` under ``valgrind --tool=callgrind`` four times: the 3-step workflow
``--runs`` and 5 × ``--runs`` times, and the same three requests sent with httpx alone as often. The
difference between the two counts of each pair, divided by the extra runs, removes interpreter start-up and
imports; the workflow's figure minus httpx's, per step, is the instructions the runner itself executes.
Needs valgrind (Debian's package); without it the script says so and exits 0. ``--smoke`` runs each workload
once without valgrind and counts an idle child under callgrind (under callgrind the imports alone take about
20 s a child).
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
STEPS = 3


def workload(mode: str, runs: int) -> None:
    """The child: warm up, then ``runs`` workflow runs or ``runs`` rounds of the three raw requests (nothing
    for ``idle``)."""
    if mode == "idle":
        return
    sys.path.insert(0, str(HERE))
    import httpx
    from bench_runner import DOC, INPUTS, handler

    from totpflow.arazzo import RunOptions, load

    loaded = load(str(DOC))
    options = RunOptions()
    client = httpx.Client(transport=httpx.MockTransport(handler))

    def run() -> None:
        loaded.run("loginAndGetPet", inputs=INPUTS, options=options, client=client)

    def raw() -> None:
        client.post("http://pets.test/login", json={"username": "alice", "password": "s3cr3t-pw"})
        client.get("http://pets.test/pets", params={"status": "available"}, headers={"Authorization": "x"})
        client.get("http://pets.test/pets/1")

    for _ in range(20):
        run()
        raw()
    action = run if mode == "run" else raw
    for _ in range(runs):
        action()


def instructions(valgrind: str, mode: str, runs: int) -> int:
    command = [valgrind, "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable, __file__]
    done = subprocess.run(
        [*command, "--child", mode, str(runs)],
        capture_output=True,
        text=True,
        check=True,
    )
    found = re.search(r"Collected : (\d+)", done.stderr)
    if found is None:
        raise RuntimeError(f"callgrind printed no total:\n{done.stderr[-2000:]}")
    return int(found.group(1))


def main() -> int:
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        workload(sys.argv[2], int(sys.argv[3]))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="each workload once, without valgrind, and callgrind's count of an idle child: checks it works",
    )
    args = parser.parse_args()
    valgrind = shutil.which("valgrind")
    if args.smoke:
        # Under callgrind the imports alone take about 20 s a child; the measurement needs four children.
        for mode in ("run", "raw"):
            subprocess.run([sys.executable, __file__, "--child", mode, "1"], check=True)
        if valgrind is not None:
            print(f"idle child: {instructions(valgrind, 'idle', 0):,} instructions")
        return 0
    if valgrind is None:
        print("valgrind is not installed (apt-get install valgrind): nothing measured")
        return 0
    low = args.runs
    high = 5 * low
    per_run = {
        mode: (instructions(valgrind, mode, high) - instructions(valgrind, mode, low)) / (high - low)
        for mode in ("run", "raw")
    }
    print(f"workflow run:          {per_run['run'] / STEPS:,.0f} instructions per step")
    print(f"the same requests, httpx only: {per_run['raw'] / STEPS:,.0f} instructions per request")
    print(f"runner overhead:       {(per_run['run'] - per_run['raw']) / STEPS:,.0f} instructions per step")
    return 0


if __name__ == "__main__":
    sys.exit(main())
