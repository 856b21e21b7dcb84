"""Rate limits counted in Redis (``TOTPFLOW_RATE_LIMIT_REDIS``): the same fixed windows as the store's
counters, shared by every client of one Redis, each key expiring when its window ends. Runs against a real
``redis-server`` started on a free loopback port; skipped when it or the ``redis`` package is missing."""

from __future__ import annotations

import dataclasses
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from frozen_clock import FrozenClock
from sqlalchemy import func, select
from svc_totp_codes import code_for, wrong_code

from totpflow.server import errors, services
from totpflow.server.domain.models import Project
from totpflow.server.policy import Policy, RateLimit
from totpflow.server.rate_limits import REDIS_KEY_PREFIX, RedisCounters
from totpflow.server.storage import open_store
from totpflow.server.storage.schema import rate_counters
from totpflow.testing import run_server

pytest.importorskip("redis", reason="the optional redis package (pip install 'totpflow[redis]')")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed")
    port = free_port()
    directory = tmp_path_factory.mktemp("redis")
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", str(directory)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    try:
        import redis

        client = redis.Redis.from_url(url)
        for _ in range(200):  # wait until it accepts connections (a readiness wait, not a timing check)
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def redis_deps(deps: services.Deps, redis_url: str) -> Iterator[services.Deps]:
    counters = RedisCounters(redis_url)
    counters.client.flushdb()
    policy = Policy(rate_limit_user=RateLimit(3, 60), rate_limit_project=RateLimit(1000, 3600))
    yield dataclasses.replace(deps, policy=policy, counters=counters)
    counters.close()


def test_per_user_limit_in_fixed_windows(
    redis_deps: services.Deps, project: Project, clock: FrozenClock, redis_url: str
) -> None:
    deps = redis_deps
    user = services.create_user(deps, project, email="ada@example.com")
    created = services.create_totp(deps, project, user_id=user.user_id)
    for _ in range(3):
        with pytest.raises(errors.UnableToAuthenticateTotp):
            services.authenticate_totp(
                deps, project, user_id=user.user_id, totp_code=wrong_code(created.secret, clock.now)
            )
    # Another client of the same Redis (another server process) sees the same count.
    other_process = dataclasses.replace(deps, counters=RedisCounters(redis_url))
    with pytest.raises(errors.RateLimited):
        services.authenticate_totp(
            other_process, project, user_id=user.user_id, totp_code=code_for(created.secret, clock.now)
        )
    clock.advance(seconds=50)  # 00:01:00: the next window
    services.authenticate_totp(
        deps, project, user_id=user.user_id, totp_code=code_for(created.secret, clock.now)
    )
    # Keys expire when their window ends: the user's after the rest of its minute, the project's hour later.
    client = deps.counters.client  # type: ignore[union-attr]
    ttls = {key.decode().rsplit(":", 2)[-2]: client.ttl(key) for key in client.keys(f"{REDIS_KEY_PREFIX}*")}
    assert set(ttls) == {user.user_id, "project"}
    assert 0 < ttls[user.user_id] <= 61 and 60 < ttls["project"] <= 3601


def test_concurrent_hits_are_counted_exactly(redis_deps: services.Deps) -> None:
    counters = redis_deps.counters
    assert counters is not None
    hit = ("project-x", "user:racer", 1_767_225_600, 1_767_225_660)
    with ThreadPoolExecutor(max_workers=16) as pool:
        counts = sorted(c[0] for c in pool.map(lambda _: counters.hit([hit], 1_767_225_610), range(64)))
    assert counts == list(range(1, 65))


def test_serve_refuses_an_unreachable_redis_without_echoing_the_url(tmp_path: Path) -> None:
    url = f"redis://:hunter2-password@127.0.0.1:{free_port()}/0"
    result = subprocess.run(
        [sys.executable, "-m", "totpflow", "serve", "--database-url", f"sqlite:///{tmp_path / 'x.db'}"],
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "TOTPFLOW_RATE_LIMIT_REDIS": url},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert "TOTPFLOW_RATE_LIMIT_REDIS" in result.stderr and "hunter2" not in result.stderr + result.stdout


def test_serve_counts_in_redis(tmp_path: Path, redis_url: str) -> None:
    """``totpflow serve`` with ``TOTPFLOW_RATE_LIMIT_REDIS``: the 429 comes from the Redis counters, and the
    database's counter table stays empty."""
    import redis

    redis.Redis.from_url(redis_url).flushdb()
    env = {"TOTPFLOW_RATE_LIMIT_REDIS": redis_url, "TOTPFLOW_RATE_LIMIT_USER": "2/7d"}
    with (
        run_server(tmp_path, env=env) as server,
        httpx.Client(base_url=server.base_url, auth=(server.project_id, server.secret)) as client,
    ):
        body = {"user_id": "user-test-00000000-0000-4000-8000-000000000000", "totp_code": "123456"}
        statuses = [client.post("/v1/totps/authenticate", json=body).status_code for _ in range(3)]
        assert statuses == [404, 404, 429]
    keys = redis.Redis.from_url(redis_url).keys(f"{REDIS_KEY_PREFIX}{server.project_id}:*")
    assert len(keys) == 1
    store = open_store(server.database_url)
    try:
        with store.engine.connect() as connection:
            assert connection.execute(select(func.count()).select_from(rate_counters)).scalar_one() == 0
    finally:
        store.dispose()
