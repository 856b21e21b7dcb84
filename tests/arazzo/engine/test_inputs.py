"""Lazy inputs through the engine: a TOTP code computed from, or prompted for after, an earlier step's output
(DESIGN.md "The first TOTP code")."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pyotp
import pytest

from totpflow.arazzo import PromptRequest, RunOptions, load
from totpflow.arazzo.errors import InputError

DOC = str(Path(__file__).parent / "data" / "totp.arazzo.yaml")
COMPUTE = {"totp_code": "totp($steps.createTotp.outputs.secret)"}


def test_computed_totp_from_an_earlier_output(pets_api: Any, pets_client: httpx.Client) -> None:
    result = load(DOC).run("enroll", computed=COMPUTE, client=pets_client)
    assert result.ok, result.workflows[0].error
    assert pets_api.seen == ["POST /totp", "POST /totp/verify"]
    code = result.workflows[0].inputs["totp_code"]
    assert code == "********"  # a computed TOTP code is a secret in every record


def test_prompt_sees_earlier_outputs(pets_client: httpx.Client) -> None:
    asked: list[PromptRequest] = []

    def prompt(request: PromptRequest) -> str:
        asked.append(request)
        step_id, outputs = request.recent_outputs[0]
        assert step_id == "createTotp"
        return str(pyotp.TOTP(outputs["secret"]).now())

    result = load(DOC).run("enroll", options=RunOptions(prompt=prompt), client=pets_client)
    assert result.ok, result.workflows[0].error
    assert [request.name for request in asked] == ["totp_code"]
    assert asked[0].recent_outputs[0][1]["uri"].startswith("otpauth://")


def test_unattended_without_the_input_stops_before_any_request(
    pets_api: Any, pets_client: httpx.Client
) -> None:
    with pytest.raises(InputError):
        load(DOC).run("enroll", client=pets_client)
    assert pets_api.seen == []


def test_time_at_a_prompt_is_not_counted_in_any_timing(pets_client: httpx.Client) -> None:
    """The prompt opens in the middle of step ``verify`` (its body reads ``$inputs.totp_code``); the ten
    minutes a person takes to type are left out of the step's, the workflow's and the run's time."""
    now = [0.0]

    def timer() -> float:
        now[0] += 0.001  # every reading of the clock: one millisecond of work
        return now[0]

    def prompt(request: PromptRequest) -> str:
        now[0] += 600.0  # ten minutes at the keyboard
        return str(pyotp.TOTP(request.recent_outputs[0][1]["secret"]).now())

    result = load(DOC).run("enroll", options=RunOptions(prompt=prompt, timer=timer), client=pets_client)
    assert result.ok, result.workflows[0].error
    workflow = result.workflows[0]
    verify = workflow.steps[1]
    assert verify.step_id == "verify"
    for elapsed_ms in (verify.elapsed_ms, workflow.elapsed_ms, result.elapsed_ms):
        assert 0 < elapsed_ms < 1000, (verify.elapsed_ms, workflow.elapsed_ms, result.elapsed_ms)
