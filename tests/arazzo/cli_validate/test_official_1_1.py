"""The official Arazzo 1.1 schema test documents (OAI/Arazzo-Specification ``tests/schema`` @ ``v1.1-dev``,
copied in ``data/official-1.1``) through ``totpflow validate --skip-sources``, as a user runs it: every
``pass`` document is valid, every ``fail`` document is refused with exit code 2 and its first problem's
location.

Each document goes through the command's entry point (``totpflow.cli.main``) in this process; one of each kind
also runs as a real ``totpflow`` subprocess."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

OFFICIAL = Path(__file__).resolve().parents[1] / "data" / "official-1.1"
PASS = sorted((OFFICIAL / "pass").glob("*.yaml"))
FAIL = sorted((OFFICIAL / "fail").glob("*.yaml"))
EXPECTED: dict[str, str] = yaml.safe_load((OFFICIAL / "expected-fail.yaml").read_text(encoding="utf-8"))


def _validate(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, object]]:
    from totpflow.cli import main

    code = main(["validate", "--skip-sources", "--json", str(path)])
    return code, json.loads(capsys.readouterr().out)


def _validate_subprocess(path: Path) -> tuple[int, dict[str, object]]:
    result = subprocess.run(
        [sys.executable, "-m", "totpflow", "validate", "--skip-sources", "--json", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "Traceback" not in result.stderr, result.stderr
    return result.returncode, json.loads(result.stdout)


def test_the_copy_is_complete() -> None:
    assert (len(PASS), len(FAIL)) == (35, 27)
    assert sorted(EXPECTED) == [path.name for path in FAIL]


def test_the_readme_names_sections_conformance_md_has() -> None:
    readme = " ".join((OFFICIAL / "README.md").read_text(encoding="utf-8").split())
    named = re.findall(r'`docs/conformance\.md`, "([^"]+)"', readme)
    conformance = Path(__file__).resolve().parents[3] / "docs" / "conformance.md"
    headings = re.findall(r"^#+ (.+)$", conformance.read_text(encoding="utf-8"), re.MULTILINE)
    assert named and all(name in headings for name in named), (named, headings)


@pytest.mark.parametrize("path", PASS, ids=[path.name for path in PASS])
def test_pass_document_is_valid(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, report = _validate(path, capsys)
    assert (code, report["problems"]) == (0, []), report
    assert report["valid"] is True


@pytest.mark.parametrize("path", FAIL, ids=[path.name for path in FAIL])
def test_fail_document_is_refused_with_its_location(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, report = _validate(path, capsys)
    assert code == 2, report
    problems = report["problems"]
    assert isinstance(problems, list) and problems, report
    assert problems[0]["location"] == EXPECTED[path.name], problems
    assert all(problem["message"] for problem in problems)


def test_as_a_subprocess() -> None:
    code, report = _validate_subprocess(OFFICIAL / "pass" / "openapi-and-asyncapi.arazzo.yaml")
    assert (code, report["problems"]) == (0, [])
    code, report = _validate_subprocess(OFFICIAL / "fail" / "invalid-self-fragment.arazzo.yaml")
    assert code == 2
    assert [problem["location"] for problem in report["problems"]] == ["/$self"]  # type: ignore[index,union-attr]


SYNTAX = yaml.safe_load((Path(__file__).parent / "skip_sources_syntax.yaml").read_text(encoding="utf-8"))
_FIELDS = {
    "value": (
        "parameters/0/value",
        lambda text: {"parameters": [{"name": "p", "in": "query", "value": text}]},
    ),
    "output": ("outputs/o", lambda text: {"outputs": {"o": text}}),
    "condition": ("successCriteria/0/condition", lambda text: {"successCriteria": [{"condition": text}]}),
    "jsonpath": (
        "successCriteria/0/condition",
        lambda text: {
            "successCriteria": [{"context": "$response.body", "condition": text, "type": "jsonpath"}]
        },
    ),
    "regex": (
        "successCriteria/0/condition",
        lambda text: {"successCriteria": [{"context": "$response.body", "condition": text, "type": "regex"}]},
    ),
}


@pytest.mark.parametrize("case", SYNTAX, ids=[case["id"] for case in SYNTAX])
def test_skip_sources_warns_only_on_the_forms_the_official_documents_use(
    case: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The leniency of ``--skip-sources`` covers the references and forms the official pass documents use;
    an expression no Arazzo grammar derives is a problem (exit 2) at its location."""
    field, build = _FIELDS[case["field"]]
    step = {"stepId": "s1", "operationId": "op", **build(case["text"])}
    document = tmp_path / "syntax.arazzo.yaml"
    document.write_text(
        json.dumps(
            {
                "arazzo": "1.1.0",
                "info": {"title": "t", "version": "1.0.0"},
                "sourceDescriptions": [{"name": "api", "url": "./api.yaml", "type": "openapi"}],
                "workflows": [{"workflowId": "w", "steps": [step]}],
            }
        ),
        encoding="utf-8",
    )
    location = f"/workflows/0/steps/0/{field}"
    code, report = _validate(document, capsys)
    if case["verdict"] == "problem":
        assert code == 2, report
        assert [problem["location"] for problem in report["problems"]] == [location]  # type: ignore[index,union-attr]
    else:
        assert (code, report["problems"]) == (0, []), report
        assert any(str(warning).startswith(location) for warning in report["warnings"]), report  # type: ignore[union-attr]
