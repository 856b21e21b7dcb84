"""Every shipped workflow upgraded to Arazzo 1.1.0 by `totpflow upgrade` runs against a `totpflow serve`
process with the same results as the 1.0.1 original: the same steps, actions and outputs."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from totpflow.testing import StytchServer

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = sorted(p.name for p in (ROOT / "arazzo").glob("*.arazzo.yaml"))
SOURCE = "stytchConsumerApi"


def _totpflow(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "totpflow", *args], capture_output=True, text=True, timeout=120
    )


def _inputs(server: StytchServer, document: Path) -> list[str]:
    """As in test_shipped_workflows: the seed takes credentials with --auth, the others as inputs."""
    args = ["--input", f"email=up-{uuid.uuid4().hex[:12]}@example.com"]
    if document.name != "user-search-delete.arazzo.yaml":  # the others confirm a new TOTP with its code
        args += ["--compute", "totp_code=totp($steps.createTotp.outputs.secret)"]
    if document.name == "totp-enrollment.arazzo.yaml":
        args += ["--input", "session_duration_minutes=60"]
        args += ["--auth", f"{SOURCE}={server.project_id}:{server.secret}"]
    else:
        args += ["--input", f"project_id={server.project_id}", "--input", f"secret={server.secret}"]
    return args


def _run(server: StytchServer, document: Path, report: Path) -> dict[str, object]:
    done = _totpflow(
        "run", str(document), "--no-prompt", "--server", f"{SOURCE}={server.base_url}",
        *_inputs(server, document), "--json-output", str(report),
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    [workflow] = json.loads(report.read_text(encoding="utf-8"))["workflows"]
    return {
        "workflowId": workflow["workflowId"],
        "status": workflow["status"],
        "outputs": sorted(workflow["outputs"]),
        "steps": [(step["stepId"], step["ok"], step["action"]) for step in workflow["steps"]],
    }


@pytest.mark.parametrize("name", SHIPPED)
def test_the_upgraded_workflow_runs_like_the_original(
    totpflow_server: StytchServer, tmp_path: Path, name: str
) -> None:
    (tmp_path / "arazzo").mkdir()
    (tmp_path / "openapi").symlink_to(ROOT / "openapi")  # the sources stay where `../openapi/…` points
    upgraded = tmp_path / "arazzo" / name
    done = _totpflow("upgrade", str(ROOT / "arazzo" / name), "-o", str(upgraded))
    assert done.returncode == 0, done.stderr
    assert upgraded.read_text(encoding="utf-8").startswith(("arazzo: 1.1.0", "# "))
    before = _run(totpflow_server, ROOT / "arazzo" / name, tmp_path / "before.json")
    after = _run(totpflow_server, upgraded, tmp_path / "after.json")
    assert before == after
