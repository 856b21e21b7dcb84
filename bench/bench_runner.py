"""Runner overhead per step, in process: the 3-step login → list → get workflow of the engine tests, run many
times from one loaded document against an ``httpx.MockTransport`` handler that answers instantly.

    .venv/bin/python bench/bench_runner.py [--runs N] [--tokens N]

Reports the time per run and per step, and splits off the cost of httpx itself (the same three requests sent
directly through the same client), so the figure left is what the engine adds: expression evaluation,
parameter serialisation, criteria, masking and the result records. Target: < 50 µs of runner overhead per
step.

Then the cost of the secrets a run collects: a workflow of N steps (``--tokens``, default 20), each handed a
fresh 880-character token under a sensitive key, run as the CLI runs it (every issued secret masked and
registered). It reports the time per step with N and with 10 × N steps; the two stay close while masking is
linear in the secrets a run holds.
"""

from __future__ import annotations

import argparse
import base64
import json
import secrets
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from totpflow.arazzo import RunOptions, load
from totpflow.arazzo.masking import Masker

DOC = Path(__file__).parents[1] / "tests" / "arazzo" / "engine" / "data" / "pets.arazzo.yaml"
INPUTS = {"username": "alice", "password": "s3cr3t-pw", "status": "available"}
LOGIN = json.dumps({"token": "tok-123", "user": {"name": "alice"}}).encode()
PETS = json.dumps([{"id": 1, "name": "Rex", "status": "available"}]).encode()
PET = json.dumps({"id": 1, "name": "Rex"}).encode()
JSON = {"Content-Type": "application/json"}


def handler(request: httpx.Request) -> httpx.Response:
    path = request.url.path
    if path == "/login":
        return httpx.Response(200, headers={**JSON, "X-Rate-Limit": "100"}, content=LOGIN)
    if path == "/pets":
        return httpx.Response(200, headers=JSON, content=PETS)
    return httpx.Response(200, headers=JSON, content=PET)


def token_handler(request: httpx.Request) -> httpx.Response:
    token = base64.urlsafe_b64encode(secrets.token_bytes(660)).decode()
    return httpx.Response(200, headers=JSON, content=json.dumps({"token": token}).encode())


TOKEN_STEP = """  - stepId: login{index}
    operationId: login
    requestBody: {{contentType: application/json, payload: {{username: alice, password: $inputs.password}}}}
    successCriteria: [{{condition: $statusCode == 200}}]
    outputs: {{token: $response.body#/token}}
"""


def token_document(steps: int) -> str:
    """A workflow of ``steps`` logins against the pets OpenAPI, each keeping the token it is handed."""
    source = DOC.with_name("pets.openapi.yaml").as_uri()
    return (
        "arazzo: 1.0.1\ninfo: {title: tokens, version: 1.0.0}\nsourceDescriptions:\n"
        f"- {{name: pets, url: '{source}', type: openapi}}\n"
        "workflows:\n- workflowId: tokens\n  inputs: {type: object, properties: {password: {type: string}}}\n"
        "  steps:\n" + "".join(TOKEN_STEP.format(index=index) for index in range(steps))
    )


def per_step_with_tokens(steps: int, repeats: int) -> float:
    """Best seconds per step of a ``token_document(steps)`` run, each run with a new Masker as the CLI's."""
    with tempfile.TemporaryDirectory(prefix="bench-runner-") as tmp:
        path = Path(tmp) / "tokens.arazzo.yaml"
        path.write_text(token_document(steps), encoding="utf-8")
        loaded = load(str(path))
        best = float("inf")
        with httpx.Client(transport=httpx.MockTransport(token_handler)) as client:
            for _ in range(repeats):
                options = RunOptions(masker=Masker())
                begin = time.perf_counter()
                result = loaded.run(
                    "tokens", inputs={"password": "s3cr3t-pw"}, options=options, client=client
                )
                best = min(best, time.perf_counter() - begin)
                assert result.ok, result.workflows[0].error
        return best / steps


def best_of(repeats: int, runs: int, *actions: Callable[[], object]) -> list[float]:
    """Best mean seconds per call of each action over ``repeats`` rounds of ``runs`` calls; the actions are
    measured alternately within each round so that load from other processes hits them alike."""
    best = [float("inf")] * len(actions)
    for _ in range(repeats):
        for index, action in enumerate(actions):
            begin = time.perf_counter()
            for _ in range(runs):
                action()
            best[index] = min(best[index], (time.perf_counter() - begin) / runs)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--tokens", type=int, default=20, help="steps of the shorter token-collecting run")
    args = parser.parse_args()

    begin = time.perf_counter()
    loaded = load(str(DOC))
    load_ms = (time.perf_counter() - begin) * 1000
    options = RunOptions()
    with httpx.Client(transport=httpx.MockTransport(handler)) as client:
        result = loaded.run("loginAndGetPet", inputs=INPUTS, options=options, client=client)
        assert result.ok, result.workflows[0].error
        steps = len(result.workflows[0].steps)

        def run() -> None:
            loaded.run("loginAndGetPet", inputs=INPUTS, options=options, client=client)

        def raw() -> None:
            client.post("http://pets.test/login", json={"username": "alice", "password": "s3cr3t-pw"})
            client.get(
                "http://pets.test/pets", params={"status": "available"}, headers={"Authorization": "x"}
            )
            client.get("http://pets.test/pets/1")

        per_run, per_http = best_of(args.repeats, args.runs, run, raw)

    overhead = (per_run - per_http) / steps
    print(f"load (parse + validate + sources): {load_ms:.1f} ms")
    print(
        f"run of {steps} steps:               {per_run * 1e6:.0f} µs "
        f"({per_run / steps * 1e6:.0f} µs per step)"
    )
    print(f"the same 3 requests, httpx only:   {per_http * 1e6:.0f} µs")
    print(f"runner overhead per step:          {overhead * 1e6:.0f} µs (target < 50 µs)")

    short, long = args.tokens, args.tokens * 10
    per_short = per_step_with_tokens(short, max(1, args.repeats // 3))
    per_long = per_step_with_tokens(long, max(1, args.repeats // 5))
    print(
        f"a step that is handed a token:     {per_short * 1e6:.0f} µs in a {short}-step run, "
        f"{per_long * 1e6:.0f} µs in a {long}-step run ({per_long / per_short:.2f}×)"
    )


if __name__ == "__main__":
    main()
