"""Every shipped workflow, run by `totpflow run` and by Redocly respect against a `totpflow serve` process."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from totpflow.testing import StytchServer

ROOT = Path(__file__).resolve().parents[2]
ARAZZO = ROOT / "arazzo"
SOURCE = "stytchConsumerApi"

# workflow file → (workflowId, the outputs its JSON report must carry)
SHIPPED = {
    "totp-enrollment.arazzo.yaml": ("totp-enrollment", {"userId", "totpId", "sessionToken"}),
    "recovery-code-login.arazzo.yaml": ("recovery-code-login", {"userId", "totpId", "sessionId"}),
    "session-lifecycle.arazzo.yaml": ("session-lifecycle", {"userId", "sessionId"}),
    "user-search-delete.arazzo.yaml": ("user-search-delete", {"userId"}),
}
SEED = "totp-enrollment.arazzo.yaml"
# the workflows that confirm a new TOTP with its first code, computed from the secret the API returned
# (Redocly respect cannot compute one)
NEEDS_TOTP_CODE = {SEED, "recovery-code-login.arazzo.yaml", "session-lifecycle.arazzo.yaml"}


def test_every_shipped_workflow_is_listed() -> None:
    assert {p.name for p in ARAZZO.glob("*.arazzo.yaml")} == set(SHIPPED)


def test_the_seed_is_shipped_unchanged() -> None:
    seed = ROOT.parent / "shared" / "seed" / "stytch-totp-enrollment.arazzo.yaml"
    if not seed.exists():
        pytest.skip("the original seed is not beside this checkout")
    assert (ARAZZO / "totp-enrollment.arazzo.yaml").read_bytes() == seed.read_bytes()


def _inputs(server: StytchServer, name: str) -> list[str]:
    """The seed takes credentials with --auth; our workflows take them as inputs (their x-security)."""
    email = f"wf-{uuid.uuid4().hex[:12]}@example.com"
    args = ["--input", f"email={email}"]
    if name in NEEDS_TOTP_CODE:
        args += ["--compute", "totp_code=totp($steps.createTotp.outputs.secret)"]
    if name == SEED:
        args += ["--input", "session_duration_minutes=60"]
        args += ["--auth", f"{SOURCE}={server.project_id}:{server.secret}"]
    else:
        args += ["--input", f"project_id={server.project_id}", "--input", f"secret={server.secret}"]
    return args


def _run(server: StytchServer, name: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "totpflow",
            "run",
            str(ARAZZO / name),
            "--no-prompt",
            "--server",
            f"{SOURCE}={server.base_url}",
            *_inputs(server, name),
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_totpflow_run_passes_every_shipped_workflow(
    totpflow_server: StytchServer, tmp_path: Path, name: str
) -> None:
    workflow_id, outputs = SHIPPED[name]
    report, har = tmp_path / "report.json", tmp_path / "run.har"
    done = _run(totpflow_server, name, "--json-output", str(report), "--har", str(har))
    assert done.returncode == 0, done.stdout + done.stderr
    data = json.loads(report.read_text())
    assert data["ok"] is True
    [workflow] = data["workflows"]
    assert workflow["workflowId"] == workflow_id
    assert outputs <= set(workflow["outputs"])
    assert all(v not in (None, "") for v in workflow["outputs"].values())
    # The project secret never reaches a report or the terminal; secrets the API hands out (tokens, the
    # TOTP secret, recovery codes) are masked in reports unless --show-secrets is given.
    for text in (report.read_text(), har.read_text(), done.stdout + done.stderr):
        assert totpflow_server.secret not in text
    if "sessionToken" in workflow["outputs"]:
        assert workflow["outputs"]["sessionToken"] == "********"
    assert '"recovery_codes": [' not in har.read_text()


def test_show_secrets_reveals_the_session_token_the_server_accepts(
    totpflow_server: StytchServer, tmp_path: Path
) -> None:
    report = tmp_path / "report.json"
    name = "totp-enrollment.arazzo.yaml"
    done = _run(totpflow_server, name, "--json-output", str(report), "--show-secrets")
    assert done.returncode == 0, done.stdout + done.stderr
    outputs = json.loads(report.read_text())["workflows"][0]["outputs"]
    assert totpflow_server.secret not in report.read_text()  # credentials stay masked
    session = totpflow_server.client().sessions.authenticate(session_token=outputs["sessionToken"])
    assert session.user.user_id == outputs["userId"]


def _redocly() -> str | None:
    return os.environ.get("TOTPFLOW_REDOCLY") or shutil.which("redocly")


@pytest.mark.skipif(
    _redocly() is None, reason="Redocly CLI not installed (set TOTPFLOW_REDOCLY; .ci/run installs it)"
)
@pytest.mark.parametrize("name", sorted(set(SHIPPED) - NEEDS_TOTP_CODE))
def test_redocly_respect_passes_our_workflows(
    totpflow_server: StytchServer, tmp_path: Path, name: str
) -> None:
    redocly = _redocly()
    assert redocly is not None
    report = tmp_path / "respect.json"
    env = {
        **os.environ,
        "REDOCLY_TELEMETRY": "off",
        "REDOCLY_SUPPRESS_UPDATE_NOTICE": "true",
        "NO_COLOR": "1",
    }
    done = subprocess.run(
        [
            redocly,
            "respect",
            str(ARAZZO / name),
            "--server",
            f"{SOURCE}={totpflow_server.base_url}",
            "--json-output",
            str(report),
            *_inputs(totpflow_server, name),
        ],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-3000:]
    text = report.read_text()
    assert '"status": "success"' in text or '"status":"success"' in text
    # respect's own response-schema checks ran against our OpenAPI document and passed.
    assert "schema" in done.stdout.lower()
