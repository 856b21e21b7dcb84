"""``expressions.regex_guard``: which patterns are matched under a time bound (cases in
``cases/regex_guard.yaml``), and the bound itself: a pattern that backtracks catastrophically fails its
criterion at the bound, in a worker process that is then replaced; a guarded pattern that finishes matches
as in process."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from totpflow.arazzo.expressions import regex_guard
from totpflow.arazzo.expressions.ecma_regex import compile_ecma

CASES: dict[str, list[dict[str, Any]]] = yaml.safe_load(
    (Path(__file__).parents[1] / "cases" / "regex_guard.yaml").read_text(encoding="utf-8")
)
BOUND = 0.5
EXPLOSIVE = "^(a+)+$"
SUBJECT = "a" * 40 + "!"  # 2^40 ways to split the a's before the '!' fails the match


@pytest.mark.parametrize("case", CASES["needs_guard"], ids=lambda case: case["pattern"])
def test_needs_guard(case: dict[str, Any]) -> None:
    assert regex_guard.needs_guard(case["pattern"]) is case["guard"]


def test_a_guarded_pattern_matches_as_in_process() -> None:
    regex = compile_ecma("/^(A+)+$/i")
    assert regex.guarded
    assert regex.test("aaaA") is True
    assert regex.test("aaab") is False
    assert compile_ecma("(a|b)+c").test("xxabac") is True


def test_a_pattern_that_backtracks_catastrophically_stops_at_the_bound() -> None:
    started = time.monotonic()
    with pytest.raises(regex_guard.RegexTimeout, match=r"did not finish within 0\.5 s"):
        regex_guard.guarded_find(EXPLOSIVE, "", False, SUBJECT, BOUND)
    assert time.monotonic() - started < BOUND + 10  # not 2^40 steps
    assert regex_guard.guarded_find(EXPLOSIVE, "", False, "aaaa", BOUND) is True  # a new worker
