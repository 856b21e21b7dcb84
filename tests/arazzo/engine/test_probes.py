"""The criteria rows of the arazzo.md §4.3 behaviour comparison, run end to end through the engine: each probe
in data/probes.yaml becomes a one-step workflow whose success criterion is the probe."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from totpflow.arazzo import load

DATA = Path(__file__).parent / "data"
PROBES = yaml.safe_load((DATA / "probes.yaml").read_text(encoding="utf-8"))


def probe_document(probe: dict[str, Any]) -> dict[str, Any]:
    criterion = {key: probe[key] for key in ("condition", "type", "context") if key in probe}
    return {
        "arazzo": "1.0.1",
        "info": {"title": f"probe {probe['id']}", "version": "1.0.0"},
        "sourceDescriptions": [{"name": "pets", "url": str(DATA / "pets.openapi.yaml"), "type": "openapi"}],
        "workflows": [
            {
                "workflowId": "probe",
                "steps": [
                    {
                        "stepId": "login",
                        "operationId": "login",
                        "requestBody": {"payload": {"username": "alice", "password": "s3cr3t-pw"}},
                        "successCriteria": [criterion],
                    }
                ],
            }
        ],
    }


@pytest.mark.parametrize("probe", PROBES, ids=[probe["id"] for probe in PROBES])
def test_probe(probe: dict[str, Any], tmp_path: Path, pets_client: httpx.Client) -> None:
    path = tmp_path / "probe.arazzo.yaml"
    path.write_text(yaml.safe_dump(probe_document(probe)), encoding="utf-8")
    result = load(str(path)).run("probe", client=pets_client)
    step = result.workflows[0].steps[0]
    assert step.checks[0].passed is probe["passes"], step.checks[0].message
    assert result.ok is probe["passes"]
