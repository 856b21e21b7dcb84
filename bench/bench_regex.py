"""``regex`` criteria: the runner's ECMA-262 → Python ``re`` translation against ``regress`` (a Rust ECMA-262
engine on PyPI), side by side in one run.

    .venv/bin/python bench/bench_regex.py [--smoke]          (needs ``pip install regress``; without it the
                                                              script says so and exits 0)

Over every ``regex`` row of ``tests/arazzo/cases/criteria.yaml`` whose condition has no embedded ``{$…}``:

* the verdicts of both engines on the row's context text (the rows' expected verdicts are the spec's);
* compile time per pattern (``compile_ecma`` uncached, against ``regress.Regex``) and match time per test;
* the import cost each adds to a ``totpflow run`` process that has loaded the runner: ``re`` is loaded by
  then, so the translation costs nothing more to import; ``import regress`` is timed in a fresh interpreter
  after ``totpflow.arazzo.criteria`` (median of several).

Plus the translation's known deviations from ECMA-262 (``ecma_regex`` docstring), with ECMA-262's verdicts.

Each time is the best of several batches (noise from other processes only ever adds time).
"""

from __future__ import annotations

import argparse
import importlib.util
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


# (id, condition, text, ECMA-262's verdict): where ``re.ASCII`` makes the translation differ
DEVIATIONS = [
    ("s-matches-no-break-space", "^\\s$", "\u00a0", True),  # WhiteSpace includes U+00A0 (§12.2)
    ("i-folds-non-ascii", "/^é$/i", "É", True),  # Canonicalize: toUppercase, not ASCII-only
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


def regress_compile(text: str) -> Callable[[str], bool]:
    import regress

    from totpflow.arazzo.expressions.ecma_regex import split_literal

    pattern, flags, _ = split_literal(text)
    compiled = regress.Regex(pattern, flags.replace("y", "") or None)
    if "y" in flags:  # sticky: the match must start at the beginning
        return lambda value: (m := compiled.find(value)) is not None and m.range().start == 0
    return lambda value: compiled.find(value) is not None


def ours_compile(text: str) -> Callable[[str], bool]:
    from totpflow.arazzo.expressions.ecma_regex import compile_ecma

    return compile_ecma.__wrapped__(text).test


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
    if importlib.util.find_spec("regress") is None:
        print("regress is not installed (pip install regress): nothing to compare")
        return
    number, repeat, imports = (20, 2, 2) if args.smoke else (2000, 7, 15)
    cases = rows()
    print(f"{len(cases)} regex rows of {CASES.relative_to(ROOT)}")
    compile_ours = compile_regress = match_ours = match_regress = 0.0
    for ident, condition, text, expected in cases:
        ours, theirs = ours_compile(condition), regress_compile(condition)
        verdicts = (ours(text), theirs(text))
        flag = "" if verdicts == (expected, expected) else "   <-- differs from the expected verdict"
        print(f"  {ident:32} expected {expected!s:5} ours {verdicts[0]!s:5} regress {verdicts[1]!s:5}{flag}")
        # re.purge() empties re's own cache of compiled patterns, so both sides compile from scratch
        compile_ours += best(lambda c=condition: (re.purge(), ours_compile(c)), number, repeat)
        compile_regress += best(lambda c=condition: (re.purge(), regress_compile(c)), number, repeat)
        match_ours += best(lambda f=ours, t=text: f(t), number, repeat)
        match_regress += best(lambda f=theirs, t=text: f(t), number, repeat)
    n = len(cases)
    print(f"compile, mean per pattern:  ours {compile_ours / n * 1e6:7.2f} µs   regress", end=" ")
    print(f"{compile_regress / n * 1e6:7.2f} µs")
    print(f"match, mean per test:       ours {match_ours / n * 1e6:7.2f} µs   regress", end=" ")
    print(f"{match_regress / n * 1e6:7.2f} µs")
    print("known deviations of the translation (ECMA-262 verdict first):")
    for ident, condition, text, expected in DEVIATIONS:
        ours, theirs = ours_compile(condition)(text), regress_compile(condition)(text)
        print(f"  {ident:32} ECMA-262 {expected!s:5} ours {ours!s:5} regress {theirs!s:5}")
    print(f"import regress after the runner (median of {imports}): {import_cost(imports) * 1000:.1f} ms")


if __name__ == "__main__":
    main()
