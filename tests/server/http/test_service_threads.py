"""The app's service calls run on a bounded thread pool (``dispatch.SERVICE_THREADS`` threads per worker):
more concurrent requests than that wait for a thread, they never run at once (the app served over loopback
HTTP from a thread of the test, with its lifespan, on a real SQLite store)."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from inprocess_server import serving

from totpflow.server import app, services
from totpflow.server.config import Settings
from totpflow.server.http import dispatch


def test_service_calls_share_a_bounded_thread_pool(
    deps: services.Deps, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if deps.store.dialect != "sqlite":
        pytest.skip("the thread pool is the same on every backend")
    settings = Settings.load({"TOTPFLOW_DATABASE_URL": f"sqlite:///{tmp_path}/unused.db"})
    running = 0
    most = 0
    lock = threading.Lock()

    def slow_jwks(_deps: services.Deps, _project_id: str) -> list[dict[str, object]]:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.05)
        with lock:
            running -= 1
        return []

    real_run = dispatch.run

    async def run(service: object, *args: object, **kwargs: object) -> object:
        return await real_run(slow_jwks if service is services.get_jwks else service, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(dispatch, "run", run)
    requests = dispatch.SERVICE_THREADS * 3
    with (
        serving(app.create_app(settings, deps), lifespan="on") as base_url,
        httpx.Client(base_url=base_url, limits=httpx.Limits(max_connections=requests)) as client,
        ThreadPoolExecutor(requests) as pool,
    ):
        answers = list(pool.map(lambda _: client.get("/v1/sessions/jwks/project-x"), range(requests)))
    assert [a.status_code for a in answers] == [200] * requests
    assert most == dispatch.SERVICE_THREADS
