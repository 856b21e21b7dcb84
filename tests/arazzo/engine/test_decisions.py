"""Runner decisions on patterns found in real workflows (docs/conformance.md), one case per row of
data/decisions.yaml, run against the fake Tinypets API through ``httpx.MockTransport``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from totpflow.arazzo import load
from totpflow.arazzo.api import Loaded

DATA = Path(__file__).parent / "data"
CASES = yaml.safe_load((DATA / "decisions.yaml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def loaded() -> Loaded:
    return load(str(DATA / "decisions.arazzo.yaml"))


@pytest.mark.parametrize("case", CASES, ids=[case["id"] for case in CASES])
def test_decision(case: dict[str, Any], loaded: Loaded, pets_api: Any, pets_client: httpx.Client) -> None:
    result = loaded.run(case["workflow"], inputs=case.get("inputs"), client=pets_client)
    top = result.workflows[-1]
    assert top.workflow_id == case["workflow"]
    assert result.ok is case["ok"], top.error
    if "outputs" in case:
        assert top.outputs == case["outputs"]
    if "requests" in case:
        assert pets_api.seen == case["requests"]
    if "bodies" in case:
        assert [json.loads(body) for body in pets_api.bodies] == case["bodies"]
    if "error" in case:
        assert top.error is not None and case["error"] in top.error, top.error
