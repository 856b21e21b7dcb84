"""A real SQLite I/O error stops the store: the server process is given a file-size limit (RLIMIT_FSIZE) just
above its database's size, so SQLite's writes fail with ``EFBIG`` (``SQLITE_IOERR_WRITE``) once the
database or its WAL grows past it. From that request on, every request that reads or writes the store gets a
Stytch 500 and ``/readyz`` answers 503, while ``/healthz`` still answers; the log names SQLite's error. Once
restarted without the limit, the server has every user it acknowledged before the failure."""

from __future__ import annotations

import base64
from pathlib import Path

import httpx
import pytest

from totpflow.testing import StytchServer, run_server

pytest.importorskip("resource", reason="RLIMIT_FSIZE is POSIX")  # the server's file-size limit

LIMIT_VARIABLE = "TOTPFLOW_TEST_FILE_SIZE_LIMIT"
# Loaded by the server's interpreter (the folder is first on its PYTHONPATH): the file-size limit, if set.
SITECUSTOMIZE = f"""\
import os, resource
limit = os.environ.get({LIMIT_VARIABLE!r})
if limit:
    resource.setrlimit(resource.RLIMIT_FSIZE, (int(limit), int(limit)))
"""
HEADROOM = 192 * 1024  # bytes the database files may grow by before a write fails


def _client(server: StytchServer) -> httpx.Client:
    token = base64.b64encode(f"{server.project_id}:{server.secret}".encode()).decode()
    return httpx.Client(base_url=server.base_url, headers={"Authorization": f"Basic {token}"}, timeout=30)


def _largest_file(folder: Path) -> int:
    return max(path.stat().st_size for path in folder.glob("totpflow.db*"))


def test_an_io_error_stops_the_store_and_acknowledged_writes_survive(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(SITECUSTOMIZE)
    data = tmp_path / "data"
    data.mkdir()
    project_id = "project-test-3e8a1c52-7d2f-4c51-9a47-2b6f0c9d1e11"
    with run_server(data, project_id=project_id):
        pass  # the database, migrated, with its project
    limit = _largest_file(data) + HEADROOM
    acknowledged: list[str] = []
    env = {"PYTHONPATH": str(site), LIMIT_VARIABLE: str(limit)}
    with run_server(data, project_id=project_id, env=env) as server, _client(server) as client:
        failed = None
        for number in range(3000):
            response = client.post("/v1/users", json={"email": f"user{number}@example.com"})
            if response.status_code != 200:
                failed = response
                break
            acknowledged.append(response.json()["user_id"])
        assert failed is not None, "the database never reached the file-size limit"
        assert failed.status_code == 500 and failed.json()["error_type"] == "internal_server_error"
        assert acknowledged, "the limit left no room for a single user"
        # from now on the store is refused, reads included, until the process is restarted
        after = client.post("/v1/users", json={"email": "after@example.com"})
        assert after.status_code == 500
        assert client.get(f"/v1/users/{acknowledged[0]}").status_code == 500
        assert client.get("/readyz").status_code == 503
        assert client.get("/readyz").json()["reason"] == "database"
        assert client.get("/healthz").status_code == 200
    log = "".join(path.read_text(errors="replace") for path in data.glob("server-*.log"))
    assert "SQLITE_IOERR" in log
    with run_server(data, project_id=project_id) as server, _client(server) as client:
        assert client.get("/readyz").status_code == 200
        for user_id in acknowledged:
            assert client.get(f"/v1/users/{user_id}").status_code == 200, user_id
        assert client.post("/v1/users", json={"email": "again@example.com"}).status_code == 200
