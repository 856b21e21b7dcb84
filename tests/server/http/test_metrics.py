"""``GET /metrics``: scraped after real flows through the official SDK, on one process and on two workers."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families
from stytch.core.response_base import StytchError

from totpflow.testing import StytchServer, current_totp, run_server

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def samples(text: str) -> Samples:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(found: Samples, name: str, **labels: str) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


def scrape(base_url: str) -> tuple[str, Samples]:
    response = httpx.get(base_url + "/metrics")  # no credentials
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return response.text, samples(response.text)


def wrong_code(secret: str) -> str:
    """A well-formed code the server's ±1-step window cannot accept."""
    now = time.time()
    valid = {current_totp(secret, at=now + step * 30) for step in (-2, -1, 0, 1, 2)}
    return next(
        code for code in ("000000", "111111", "222222", "333333", "444444", "555555") if code not in valid
    )


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StytchServer]:
    # A per-user limit of 12 attempts an hour: one success, ten failures (the tenth locks), one refused
    # because locked, then one refused by the rate limit.
    env = {"TOTPFLOW_RATE_LIMIT_USER": "12/1h"}
    with run_server(tmp_path_factory.mktemp("metrics"), env=env) as running:
        yield running


def test_counters_after_an_enrollment_a_lock_and_a_rate_limit(server: StytchServer) -> None:
    client = server.client()
    ada = client.users.create(email="ada@example.com")
    totp = client.totps.create(user_id=ada.user_id)
    client.totps.authenticate(user_id=ada.user_id, totp_code=current_totp(totp.secret))
    bad = wrong_code(totp.secret)
    refusals = []
    for _ in range(12):
        with pytest.raises(StytchError) as refused:
            client.totps.authenticate(user_id=ada.user_id, totp_code=bad)
        refusals.append(refused.value.details.error_type)
    assert refusals == ["unable_to_authenticate_totp"] * 10 + ["user_lock_limit_reached", "too_many_requests"]
    bob = client.users.create(email="bob@example.com")
    bob_totp = client.totps.create(user_id=bob.user_id)
    client.totps.authenticate(user_id=bob.user_id, totp_code=current_totp(bob_totp.secret))  # confirmed
    client.totps.recover(user_id=bob.user_id, recovery_code=bob_totp.recovery_codes[0])

    text, found = scrape(server.base_url)
    assert value(found, "totpflow_second_factor_attempts_total", factor="totp", outcome="success") == 2
    assert value(found, "totpflow_second_factor_attempts_total", factor="totp", outcome="failure") == 10
    assert (
        value(found, "totpflow_second_factor_attempts_total", factor="recovery_code", outcome="success") == 1
    )
    assert value(found, "totpflow_user_locks_total") == 1
    assert value(found, "totpflow_locked_refusals_total") == 1
    assert value(found, "totpflow_rate_limit_refusals_total") == 1
    route = "/v1/totps/authenticate"
    assert value(found, "totpflow_http_requests_total", method="POST", route=route, status="200") == 2
    assert value(found, "totpflow_http_requests_total", method="POST", route=route, status="401") == 10
    assert value(found, "totpflow_http_requests_total", method="POST", route=route, status="429") == 2
    assert value(found, "totpflow_http_requests_total", method="POST", route="/v1/users", status="200") == 2
    assert value(found, "totpflow_http_request_duration_seconds_count", method="POST", route=route) == 14
    assert (
        value(found, "totpflow_http_request_duration_seconds_bucket", method="POST", route=route, le="+Inf")
        == 14
    )

    # Nothing that identifies a project, a user or a request, in a metric's name, labels or help: the sample
    # values are numbers, whose digits ("0.046624464000000004") may happen to spell a six-digit code.
    described = "\n".join(
        line.rsplit(" ", 1)[0] if not line.startswith("#") else line for line in text.splitlines()
    )
    for secret_or_id in (server.project_id, ada.user_id, bob.user_id, "ada@example.com", totp.totp_id, bad):
        assert secret_or_id not in described


def test_unknown_paths_are_counted_under_one_label(server: StytchServer) -> None:
    for path in ("/v1/nope", f"/{uuid.uuid4()}", "/v1/users/x/y/z"):
        assert httpx.get(server.base_url + path).status_code == 404
    text, found = scrape(server.base_url)
    assert value(found, "totpflow_http_requests_total", method="GET", route="unmatched", status="404") >= 3
    assert "/v1/nope" not in text and "/v1/users/x/y/z" not in text


def test_two_workers_add_up(tmp_path: Path) -> None:
    """``serve --workers 2``: every scrape, whichever worker answers it, counts every worker's requests."""
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("TOTPFLOW_")},
        "TMPDIR": str(tmp_path),  # where serve makes its private metrics directory
        "TOTPFLOW_DATABASE_URL": f"sqlite:///{tmp_path / 'w.db'}",
        "TOTPFLOW_PROJECT_ID": "project-test-metrics",
        "TOTPFLOW_PROJECT_SECRET": "secret-test-metrics-0123456789abcdefghij",
    }
    log = (tmp_path / "serve.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "totpflow", "serve", "--port", str(port), "--workers", "2"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(base, process, tmp_path / "serve.log")
        (directory,) = tmp_path.glob("totpflow-metrics-*")
        sent = 0
        for _ in range(50):  # until both workers have served some (each request on a new connection)
            for _ in range(10):
                assert httpx.get(base + "/healthz").status_code == 200
                sent += 1
            if len(per_process(directory)) == 2:
                break
        counts = per_process(directory)
        assert len(counts) == 2 and all(0 < n < sent for n in counts.values())
        for _ in range(6):  # scrapes land on either worker; each sees the sum
            _, found = scrape(base)
            assert (
                value(found, "totpflow_http_requests_total", method="GET", route="/healthz", status="200")
                == sent
            )
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()
    assert not list(tmp_path.glob("totpflow-metrics-*")), "serve removes its metrics directory"


def per_process(directory: Path) -> dict[str, float]:
    """GET /healthz requests counted by each worker process (one file each in multiprocess mode)."""
    counts: dict[str, float] = {}
    for path in directory.glob("counter_*.db"):
        for family in MultiProcessCollector.merge([str(path)], accumulate=False):
            for s in family.samples:
                if s.name == "totpflow_http_requests_total" and s.labels.get("route") == "/healthz":
                    counts[path.stem] = counts.get(path.stem, 0.0) + s.value
    return {pid: n for pid, n in counts.items() if n}


def wait_until_ready(base: str, process: subprocess.Popen[bytes], log: Path) -> None:
    for _ in range(600):
        assert process.poll() is None, log.read_text()
        try:
            if httpx.get(base + "/openapi.json").status_code == 200:  # not the route the test counts
                return
        except httpx.TransportError:
            time.sleep(0.05)
    pytest.fail(f"serve did not answer: {log.read_text()}")


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
