"""JSON Schema pass/fail cases in the manner of OAI/Arazzo-Specification tests/schema (written for 1.0.x).

Each file under data/documents/schema/fail names, in its first line ``# expect: <JSON Pointer>``, where the
violation must be reported.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from totpflow.arazzo.document import load_document
from totpflow.arazzo.errors import DocumentInvalid

SCHEMA = Path(__file__).resolve().parents[1] / "data" / "documents" / "schema"
PASS = sorted((SCHEMA / "pass").glob("*.yaml"))
FAIL = sorted((SCHEMA / "fail").glob("*.yaml"))


@pytest.mark.parametrize("path", PASS, ids=[path.stem for path in PASS])
def test_schema_pass(path: Path) -> None:
    document = load_document(str(path))
    assert document.workflows
    assert document.warnings == ()


@pytest.mark.parametrize("path", FAIL, ids=[path.stem for path in FAIL])
def test_schema_fail(path: Path) -> None:
    first = path.read_text(encoding="utf-8").splitlines()[0]
    assert first.startswith("# expect: ")
    with pytest.raises(DocumentInvalid) as invalid:
        load_document(str(path))
    locations = [problem.location for problem in invalid.value.problems]
    assert locations == [first.removeprefix("# expect: ")]
