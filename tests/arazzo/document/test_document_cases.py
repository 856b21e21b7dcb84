"""Every document listed in data/documents/cases.yaml: the stage that rejects it and every problem."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from totpflow.arazzo.document import load_document
from totpflow.arazzo.errors import DocumentError, DocumentInvalid, LoadError
from totpflow.arazzo.sources import SourceSet, check_sources
from totpflow.arazzo.validation import validate

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


def _map_self(case: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """A 1.1 ``$self`` URL prefix of the case read from a folder of the test data."""
    if "map_self" in case:
        entries = [f"{url}={DATA / folder}" for url, folder in case["map_self"].items()]
        monkeypatch.setenv("TOTPFLOW_MAP_SELF", " ".join(entries))


@pytest.mark.parametrize("case", CASES, ids=[case["document"] for case in CASES])
def test_document(case: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    path = str(DATA / case["document"])
    _map_self(case, monkeypatch)
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
        _sources, unreadable = SourceSet.load_all(document)
        _assert_problems(unreadable, expected)
        with pytest.raises(LoadError if len(unreadable) == 1 else DocumentInvalid):
            SourceSet.load(document)
        return
    report = check_sources(document, SourceSet.load(document))
    _assert_problems(report.problems, expected)
    _assert_warnings([*document.warnings, *report.warnings], case.get("warnings", []))
    assert (stage == "valid") == (not report.problems)


@pytest.mark.parametrize("case", CASES, ids=[case["document"] for case in CASES])
def test_validation_rounds(case: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """``validate`` stops at the first round that finds problems and reports every problem of that round."""
    _map_self(case, monkeypatch)
    validation = validate(str(DATA / case["document"]))
    assert validation.round == case.get("round"), [str(problem) for problem in validation.problems]
    _assert_problems(validation.problems, case.get("problems", []))
    assert validation.valid == (case["stage"] == "valid")
    if case["stage"] in ("valid", "sources") or "warnings" in case:
        _assert_warnings(list(validation.warnings), case.get("warnings", []))
