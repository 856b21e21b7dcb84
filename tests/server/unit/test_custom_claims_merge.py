"""``services.sessions.merge_claims``: how ``session_custom_claims`` change a session's claims, from the cases
in ``tests/server/data/custom_claims_merge.yaml``."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from totpflow.server.services.sessions import merge_claims

CASES: list[dict[str, Any]] = yaml.safe_load(
    (Path(__file__).parents[1] / "data" / "custom_claims_merge.yaml").read_text(encoding="utf-8")
)


@pytest.mark.parametrize("case", CASES, ids=lambda case: case["id"])
def test_merge_claims(case: dict[str, Any]) -> None:
    current = copy.deepcopy(case["current"])
    assert merge_claims(current, case["update"]) == case["expect"]
    assert current == case["current"]  # the session's claims as they were are left unchanged
