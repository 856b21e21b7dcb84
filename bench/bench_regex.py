"""``regex`` criteria: the runner's engine (``regress``, ECMA-262) side by side with Python's ``re``.

    .venv/bin/python bench/bench_regex.py [--smoke]

Over every ``regex`` row of ``tests/arazzo/cases/criteria.yaml`` whose condition has no embedded ``{$…}`` and
that Python's ``re`` also compiles as written:

* the verdicts of both on the row's context text (the rows' expected verdicts are ECMA-262's);
* compile time per pattern (``compile_ecma`` uncached, against ``re.compile`` with re's cache purged) and
  match time per test;
* the import cost ``regress`` adds to a ``totpflow run`` process that has loaded the runner (``re`` is loaded
  by then): ``import regress`` timed in a fresh interpreter after ``totpflow.arazzo.criteria`` (median).

Plus where ``re`` differs from ECMA-262 beyond syntax, with ECMA-262's verdicts. The runner translated
ECMA-262 to ``re`` before it used ``regress``: the first version of this script (see
``git log -- bench/bench_regex.py``) compares that translation with ``regress``; BENCHMARKS.md has both runs'
figures.

Each time is the best of several batches (noise from other processes only ever adds time).
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
CASES = ROOT / "tests" / "arazzo" / "cases" / "criteria.yaml"
sys.path.insert(0, str(ROOT / "tests" / "arazzo" / "expressions"))

# (id, condition, text, ECMA-262's verdict): where Python's re means something else
DEVIATIONS = [
    ("dollar-before-final-newline", "^a$", "a\n", False),  # ECMA-262 $ is the end of input
    ("digit-is-ascii", "\\d", "\u0663", False),  # ECMA-262 \d is [0-9]
    ("dot-excludes-cr", "^.$", "\r", False),  # LineTerminator: LF, CR, U+2028, U+2029
    ("dot-excludes-u2028", "^.$", "\u2028", False),
]


def rows() -> list[tuple[str, str, str, bool]]:
    """(id, condition, context text, expected verdict) of every regex row without ``{$…}``."""
    from dict_context import DictContext

    from totpflow.arazzo.expressions import parse, stringify

    table = yaml.safe_load(CASES.read_text(encoding="utf-8"))
    found = []
    for row in table["criteria"]:
        criterion = row.get("criterion", {})
        if criterion.get("type") != "regex" or "{$" in criterion["condition"] or "error" in row:
            continue
        spec = row.get("given", "default")
        state = table["contexts"][spec] if isinstance(spec, str) else dict(spec)
        try:
            value = parse(criterion["context"]).evaluate(DictContext(state))
        except Exception:  # an unresolvable context: not a regex question
            continue
        if value is None:
            continue
        found.append((row["id"], criterion["condition"], stringify(value), row["passed"]))
    return found


def ecma(text: str) -> Callable[[str], bool]:
    from totpflow.arazzo.expressions.ecma_regex import compile_ecma

    return compile_ecma.__wrapped__(text).test


def python_re(text: str) -> Callable[[str], bool] | None:
    try:
        return re.compile(text).search  # type: ignore[return-value]
    except re.error:
        return None


def best(action: Callable[[], Any], number: int, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            action()
        times.append((time.perf_counter() - start) / number)
    return min(times)


def import_cost(runs: int) -> float:
    code = (
        "import time, totpflow.arazzo.criteria\n"
        "start = time.perf_counter()\n"
        "import regress\n"
        "print(time.perf_counter() - start)\n"
    )
    samples = [
        float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
        for _ in range(runs)
    ]
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="few repetitions: checks that it works")
    args = parser.parse_args()
    number, repeat, imports = (20, 2, 2) if args.smoke else (2000, 7, 15)
    cases = [row for row in rows() if python_re(row[1]) is not None]
    print(f"{len(cases)} regex rows of {CASES.relative_to(ROOT)} that re also compiles")
    totals = {"compile ecma": 0.0, "compile re": 0.0, "match ecma": 0.0, "match re": 0.0}
    for ident, condition, text, expected in cases:
        ours, theirs = ecma(condition), python_re(condition)
        assert theirs is not None
        verdicts = (ours(text), bool(theirs(text)))
        flag = "" if verdicts == (expected, expected) else "   <-- differs from ECMA-262"
        print(f"  {ident:36} expected {expected!s:5} regress {verdicts[0]!s:5} re {verdicts[1]!s:5}{flag}")
        # re.purge() empties re's own cache of compiled patterns, so both sides compile from scratch
        totals["compile ecma"] += best(lambda c=condition: (re.purge(), ecma(c)), number, repeat)
        totals["compile re"] += best(lambda c=condition: (re.purge(), python_re(c)), number, repeat)
        totals["match ecma"] += best(lambda f=ours, t=text: f(t), number, repeat)
        totals["match re"] += best(lambda f=theirs, t=text: f(t), number, repeat)
    n = len(cases)
    print(f"compile, mean per pattern:  regress {totals['compile ecma'] / n * 1e6:7.2f} µs", end="   ")
    print(f"re {totals['compile re'] / n * 1e6:7.2f} µs")
    print(f"match, mean per test:       regress {totals['match ecma'] / n * 1e6:7.2f} µs", end="   ")
    print(f"re {totals['match re'] / n * 1e6:7.2f} µs")
    print("where re means something else (ECMA-262 verdict first):")
    for ident, condition, text, expected in DEVIATIONS:
        print(f"  {ident:36} ECMA-262 {expected!s:5} regress {ecma(condition)(text)!s:5}", end=" ")
        print(f"re {bool(re.search(condition, text))!s:5}")
    print(f"import regress after the runner (median of {imports}): {import_cost(imports) * 1000:.1f} ms")


if __name__ == "__main__":
    main()
