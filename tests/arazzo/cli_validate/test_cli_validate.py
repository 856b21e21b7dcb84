"""``totpflow validate`` as a user runs it: a subprocess, its exit code, stdout and stderr."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

DATA = Path(__file__).resolve().parents[1] / "data" / "documents"


def _validate(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "totpflow", "validate", *args], capture_output=True, text=True, timeout=60
    )


def test_a_valid_document_exits_0() -> None:
    result = _validate(str(DATA / "valid" / "shop.arazzo.yaml"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == ""
    assert "valid (3 workflow(s), 4 step(s), 2 source(s))" in result.stderr


def test_warnings_are_printed_and_do_not_fail() -> None:
    result = _validate(str(DATA / "valid" / "quirks.arazzo.json"))
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert len(lines) == 4 and all(line.startswith("warning: /workflows/0/steps/") for line in lines)
    assert lines[0].startswith("warning: /workflows/0/steps/0/operationPath: non-spec operationPath form")


def test_every_problem_is_printed_with_its_location() -> None:
    result = _validate(str(DATA / "invalid" / "missing-targets.arazzo.yaml"))
    assert result.returncode == 2
    assert result.stdout.splitlines() == [
        "/workflows/0/dependsOn/1: no workflow with workflowId 'nowhere'",
        "/workflows/0/failureActions/0/stepId: no step 'missingStep' in workflow 'a'",
        "/workflows/0/steps/0/onSuccess/0/stepId: no step 's3' in workflow 'a'",
        "/workflows/0/steps/0/onSuccess/1/workflowId: no source description named 'nope'",
        "/workflows/0/steps/1/workflowId: no workflow with workflowId 'c'",
    ]
    assert "invalid, 5 problems" in result.stderr


def test_operations_are_resolved_in_the_sources() -> None:
    result = _validate(str(DATA / "invalid" / "unresolved-operations.arazzo.yaml"))
    assert result.returncode == 2
    problems = [line for line in result.stdout.splitlines() if not line.startswith("warning: ")]
    assert problems[0] == "/workflows/0/steps/0/operationId: no operation 'deletePet' in source 'pets'"
    assert len(problems) == 3


def test_json_output() -> None:
    result = _validate("--json", str(DATA / "invalid" / "bad-expressions.arazzo.yaml"))
    assert result.returncode == 2
    report = json.loads(result.stdout)
    assert report["valid"] is False
    assert report["warnings"] == []
    assert {
        "location": "/workflows/0/steps/0/successCriteria/0/condition",
        "message": "expected a value (literal, runtime expression or '(') at position 14 in '$statusCode =='",
    } in report["problems"]
    valid = json.loads(_validate("--json", str(DATA / "valid" / "quirks.arazzo.json")).stdout)
    assert valid["valid"] is True and valid["problems"] == [] and len(valid["warnings"]) == 4


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("invalid/does-not-exist.arazzo.yaml", "cannot read"),
        ("invalid/duplicate-keys.arazzo.yaml", "duplicate key 'operationId'"),
        ("invalid/bad-version.arazzo.yaml", "unsupported Arazzo version '2.0.0'"),
        ("invalid/missing-source.arazzo.yaml", "source description 'gone': cannot read"),
        ("openapi/pets.openapi.yaml", "'arazzo' is missing"),
        ("invalid/no-version.arazzo.yaml", "'arazzo' is missing"),
        ("invalid/empty.arazzo.yaml", "the document is empty"),
    ],
)
def test_unreadable_documents_exit_2_without_a_traceback(document: str, message: str) -> None:
    result = _validate(str(DATA / document))
    assert result.returncode == 2
    assert message in result.stdout
    assert "Traceback" not in result.stderr + result.stdout


def test_the_seed_layout_validates(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[3]
    upstream = root.parent / "shared" / "reference" / "stytch-consumer-openapi.upstream.yml"
    if not upstream.is_file():
        pytest.skip("the upstream Stytch OpenAPI is not at ../shared/reference")
    (tmp_path / "arazzo").mkdir()
    (tmp_path / "openapi").mkdir()
    seed = tmp_path / "arazzo" / "totp-enrollment.arazzo.yaml"
    seed.write_bytes((root / "arazzo" / "totp-enrollment.arazzo.yaml").read_bytes())
    (tmp_path / "openapi" / "stytch-consumer-openapi.yml").write_bytes(upstream.read_bytes())
    result = _validate(str(seed))
    assert result.returncode == 0, result.stdout
    assert "valid (1 workflow(s), 3 step(s), 1 source(s))" in result.stderr


def test_the_shipped_seed_validates_against_the_shipped_openapi() -> None:
    root = Path(__file__).resolve().parents[3]
    if not (root / "openapi" / "stytch-consumer-openapi.yml").is_file():
        pytest.skip("openapi/stytch-consumer-openapi.yml (generated from the server) is not in this tree")
    result = _validate(str(root / "arazzo" / "totp-enrollment.arazzo.yaml"))
    assert result.returncode == 0, result.stdout
    assert result.stdout == ""  # no problems and no warnings


def test_references_to_undeclared_inputs_steps_and_outputs_are_flagged() -> None:
    result = _validate(str(DATA / "invalid" / "undeclared-references.arazzo.yaml"))
    assert result.returncode == 2
    lines = result.stdout.splitlines()
    assert (
        "/workflows/0/steps/0/parameters/0/value: workflow 'signUp' declares no input 'emial' "
        "(inputs: email, password)" in lines
    )
    assert (
        "/workflows/0/steps/0/requestBody/payload/previous: $steps.logn: no step 'logn' in this workflow"
        in lines
    )
    assert "/workflows/0/steps/1/parameters/0/value: step 'login' declares no output 'tokn'" in lines
    assert len(lines) == 9  # every problem of the round, one run
    assert (
        "invalid, 9 problems (semantics round; sources, operations follow once these are fixed)"
        in result.stderr
    )


@pytest.mark.parametrize(
    ("document", "round_name", "count"),
    [
        ("every-round.arazzo.yaml", "schema", 3),
        ("semantics-before-sources.arazzo.yaml", "semantics", 2),
        ("missing-sources.arazzo.yaml", "sources", 2),
        ("unresolved-operations.arazzo.yaml", "operations", 3),
    ],
)
def test_each_round_reports_only_once_the_previous_rounds_are_clean(
    document: str, round_name: str, count: int
) -> None:
    report = json.loads(_validate("--json", str(DATA / "invalid" / document)).stdout)
    assert report["valid"] is False
    assert report["round"] == round_name
    assert len(report["problems"]) == count
    assert all(problem["location"].startswith("/") for problem in report["problems"])


def test_run_refuses_a_document_with_an_undeclared_input_before_sending(pets_server: Any) -> None:
    url, api = pets_server
    done = subprocess.run(
        [sys.executable, "-m", "totpflow", "run", str(DATA / "invalid" / "undeclared-references.arazzo.yaml"),
         "--server", f"pets={url}", "--input", "email=a@example.com", "--input", "password=pw"],
        capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2, done.stdout + done.stderr
    assert (
        "/workflows/0/steps/0/parameters/0/value: workflow 'signUp' declares no input 'emial'" in done.stderr
    )
    assert api.seen == []
