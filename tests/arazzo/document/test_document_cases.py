"""Every document listed in data/documents/cases.yaml: the stage that rejects it and every problem."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from totpflow.arazzo.document import load_document
from totpflow.arazzo.errors import DocumentError, DocumentInvalid, LoadError
from totpflow.arazzo.sources import SourceSet, check_sources

DATA = Path(__file__).resolve().parents[1] / "data" / "documents"
CASES: list[dict[str, Any]] = yaml.safe_load((DATA / "cases.yaml").read_text(encoding="utf-8"))


def _assert_problems(
    problems: tuple[DocumentError, ...] | list[DocumentError], expected: list[list[str]]
) -> None:
    assert [problem.location for problem in problems] == [location for location, _ in expected], problems
    for problem, (_, part) in zip(problems, expected, strict=True):
        assert part in problem.message, f"{problem.location}: {problem.message!r} lacks {part!r}"


def _assert_warnings(warnings: list[str], expected: list[list[str]]) -> None:
    assert len(warnings) == len(expected), warnings
    for warning, (location, part) in zip(warnings, expected, strict=True):
        assert warning.startswith(f"{location}: "), warning
        assert part in warning, f"{warning!r} lacks {part!r}"


@pytest.mark.parametrize("case", CASES, ids=[case["document"] for case in CASES])
def test_document(case: dict[str, Any]) -> None:
    path = str(DATA / case["document"])
    stage = case["stage"]
    expected = case.get("problems", [])
    if stage == "load":
        with pytest.raises(LoadError) as raised:
            load_document(path)
        _assert_problems([raised.value], expected)
        return
    if stage == "document":
        with pytest.raises(DocumentInvalid) as invalid:
            load_document(path)
        _assert_problems(invalid.value.problems, expected)
        return
    document = load_document(path)
    if stage == "load-sources":
        with pytest.raises(LoadError) as raised:
            SourceSet.load(document)
        _assert_problems([raised.value], expected)
        return
    report = check_sources(document, SourceSet.load(document))
    _assert_problems(report.problems, expected)
    _assert_warnings([*document.warnings, *report.warnings], case.get("warnings", []))
    assert (stage == "valid") == (not report.problems)
