"""Races across processes: 2 server processes on one store (a SQLite file; a PostgreSQL schema), one project.

What must hold however the requests interleave (security.md; RFC 6238 §5.2; NIST SP 800-63B §5.2.2):

* a TOTP code is accepted once: 50 concurrent authenticates with the same valid code → exactly one 200;
* an email belongs to one user: 50 concurrent creates with the same email → exactly one user, the others
  ``duplicate_email``;
* a recovery code is single-use: 50 concurrent recovers with the same code → exactly one 200;
* failures are capped: of failed attempts racing toward the lock threshold exactly the threshold are
  judged wrong and the rest find the user locked (each counts in its own attempt's transaction), the user
  ends up locked, and a user who stays below the threshold is never locked.

Requests alternate between the two processes, so only the database can serialise them.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pyotp
import pytest
from burst import burst, error_types
from cluster import Cluster, cluster
from figures import record

RACERS = 50
LOCK_THRESHOLD = 10  # the default Policy.lock_threshold, set explicitly so the test does not drift
BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(scope="module", params=BACKENDS)
def pair(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    directory = tmp_path_factory.mktemp(f"races-{request.param}")
    with cluster(
        request.param, directory, 2, env={"TOTPFLOW_LOCK_THRESHOLD": str(LOCK_THRESHOLD)}
    ) as running:
        yield running
        assert "Traceback" not in running.logs()


def enroll(pair: Cluster, email: str) -> tuple[str, dict[str, Any]]:
    """A user with a TOTP (not yet verified), created on the first process."""
    with pair.client() as client:
        user = client.post("/v1/users", json={"email": email})
        assert user.status_code == 200, user.text
        user_id = user.json()["user_id"]
        totp = client.post("/v1/totps", json={"user_id": user_id})
        assert totp.status_code == 200, totp.text
    return user_id, totp.json()


def assert_losers(responses: list[Any], allowed: set[str]) -> None:
    for response in responses:
        if response.status_code != 200:
            assert 400 <= response.status_code < 500, response.text
            assert response.json()["error_type"] in allowed, response.text


def test_same_totp_code_succeeds_once(pair: Cluster) -> None:
    user_id, totp = enroll(pair, f"race-code-{pair.backend}@example.com")
    code = pyotp.TOTP(totp["secret"]).now()
    body = {"user_id": user_id, "totp_code": code, "session_duration_minutes": 60}
    responses = burst(pair, RACERS, lambda i: ("POST", "/v1/totps/authenticate", body))
    outcome = error_types(responses)
    record("races", race="same-totp-code", backend=pair.backend, requests=RACERS, outcome=outcome)
    assert outcome.get("200") == 1, outcome
    # The loser may also be refused by a rate limit, never by anything else.
    assert_losers(responses, {"totp_code_already_authenticated", "too_many_requests"})
    with pair.client(1) as client:
        sessions = client.get("/v1/sessions", params={"user_id": user_id}).json()["sessions"]
    assert len(sessions) == 1


def test_same_email_creates_one_user(pair: Cluster) -> None:
    email = f"race-email-{pair.backend}@example.com"
    responses = burst(pair, RACERS, lambda i: ("POST", "/v1/users", {"email": email}))
    outcome = error_types(responses)
    record("races", race="same-email", backend=pair.backend, requests=RACERS, outcome=outcome)
    assert outcome == {"200": 1, "400 duplicate_email": RACERS - 1}, outcome
    with pair.client(1) as client:
        found = client.post(
            "/v1/users/search",
            json={
                "query": {
                    "operator": "AND",
                    "operands": [{"filter_name": "email_address", "filter_value": [email]}],
                }
            },
        )
    assert found.status_code == 200, found.text
    assert found.json()["results_metadata"]["total"] == 1


def test_same_recovery_code_succeeds_once(pair: Cluster) -> None:
    user_id, totp = enroll(pair, f"race-recovery-{pair.backend}@example.com")
    with pair.client() as client:  # confirmed by its first code: recovery codes back up a verified TOTP
        confirmed = client.post(
            "/v1/totps/authenticate", json={"user_id": user_id, "totp_code": pyotp.TOTP(totp["secret"]).now()}
        )
        assert confirmed.status_code == 200, confirmed.text
    body = {"user_id": user_id, "recovery_code": totp["recovery_codes"][0], "session_duration_minutes": 60}
    responses = burst(pair, RACERS, lambda i: ("POST", "/v1/totps/recover", body))
    outcome = error_types(responses)
    record("races", race="same-recovery-code", backend=pair.backend, requests=RACERS, outcome=outcome)
    assert outcome.get("200") == 1, outcome
    assert_losers(
        responses, {"unable_to_authenticate_recovery_code", "user_lock_limit_reached", "too_many_requests"}
    )


def wrong_code(secret: str) -> str:
    """A well-formed code that is valid in no step within five minutes of now (any verification window)."""
    totp = pyotp.TOTP(secret)
    now = time.time()
    valid = {totp.at(now + 30 * k) for k in range(-10, 11)}
    return next(c for c in (f"{n:06d}" for n in range(1000000)) if c not in valid)


def test_failures_racing_past_the_threshold_are_capped(pair: Cluster) -> None:
    user_id, totp = enroll(pair, f"race-lock-{pair.backend}@example.com")
    body = {"user_id": user_id, "totp_code": wrong_code(totp["secret"])}
    responses = burst(pair, RACERS, lambda i: ("POST", "/v1/totps/authenticate", body))
    outcome = error_types(responses)
    admitted = outcome.get("401 unable_to_authenticate_totp", 0)
    record("races", race="failures-past-threshold", backend=pair.backend, requests=RACERS,
           threshold=LOCK_THRESHOLD, outcome=outcome)  # fmt: skip
    assert set(outcome) <= {"401 unable_to_authenticate_totp", "429 user_lock_limit_reached",
                            "429 too_many_requests"}, outcome  # fmt: skip
    if "429 too_many_requests" not in outcome:
        assert admitted == LOCK_THRESHOLD, outcome  # never more: the count is taken where the code is judged
    assert admitted <= LOCK_THRESHOLD, outcome
    # Locked now: even the right code is refused.
    with pair.client(1) as client:
        good = {"user_id": user_id, "totp_code": pyotp.TOTP(totp["secret"]).now()}
        refused = client.post("/v1/totps/authenticate", json=good)
    assert refused.status_code == 429, refused.text
    assert refused.json()["error_type"] == "user_lock_limit_reached"


def test_failures_below_the_threshold_never_lock(pair: Cluster) -> None:
    user_id, totp = enroll(pair, f"race-below-{pair.backend}@example.com")
    body = {"user_id": user_id, "totp_code": wrong_code(totp["secret"])}
    below = LOCK_THRESHOLD - 1
    responses = burst(pair, below, lambda i: ("POST", "/v1/totps/authenticate", body))
    outcome = error_types(responses)
    record("races", race="failures-below-threshold", backend=pair.backend, requests=below,
           threshold=LOCK_THRESHOLD, outcome=outcome)  # fmt: skip
    assert outcome == {"401 unable_to_authenticate_totp": below}, outcome
    with pair.client(1) as client:
        good = {"user_id": user_id, "totp_code": pyotp.TOTP(totp["secret"]).now()}
        accepted = client.post("/v1/totps/authenticate", json=good)
    assert accepted.status_code == 200, accepted.text
