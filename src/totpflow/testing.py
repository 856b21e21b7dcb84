"""A totpflow server for an application's tests: :func:`run_server`, and the ``totpflow`` pytest plugin.

:func:`run_server` starts a fresh server as a context manager and needs nothing but totpflow (no pytest)::

    with run_server() as server:
        client = server.client()      # an official stytch.Client (needs the ``stytch`` package)

Installed with totpflow and registered as the ``totpflow`` pytest plugin (its fixtures live in
``totpflow.pytest_plugin`` and are loaded from here only when pytest is installed), it offers:

``totpflow_server``
    a fresh, isolated ``totpflow serve`` process on a free loopback port with its own SQLite store in the
    test's temporary directory; yields a :class:`StytchServer` (base URL, project credentials).
``stytch_client``
    an official ``stytch.Client`` pointed at that server (needs the ``stytch`` package).
``totp_code(secret)``
    the current RFC 6238 code for a base32 secret, as an authenticator app would show it.

Example::

    def test_enroll(stytch_client, totp_code):
        user = stytch_client.users.create(email="ada@example.com")
        totp = stytch_client.totps.create(user_id=user.user_id)
        resp = stytch_client.totps.authenticate(
            user_id=user.user_id, totp_code=totp_code(totp.secret), session_duration_minutes=60
        )
        assert resp.session_token
"""

from __future__ import annotations

import base64
import contextlib
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from totpflow.server.dbfile import sqlite_url

if TYPE_CHECKING:
    import stytch

__all__ = ["StytchServer", "current_totp", "free_port", "run_server"]


@dataclass(frozen=True)
class StytchServer:
    """A running server and the credentials of its project."""

    base_url: str  # "http://127.0.0.1:PORT" (no trailing slash)
    project_id: str
    secret: str
    database_url: str

    def client(self) -> stytch.Client:
        """An official Stytch SDK client for this server."""
        import stytch

        return stytch.Client(project_id=self.project_id, secret=self.secret, environment=self.base_url + "/")


def current_totp(secret: str, *, at: float | None = None) -> str:
    """The RFC 6238 code (HMAC-SHA-1, 6 digits, 30 s) of a base32 secret at ``at`` (default: now)."""
    import pyotp

    code: str = pyotp.TOTP(secret).at(time.time() if at is None else at)
    return code


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def run_server(
    directory: Path | None = None,
    *,
    database_url: str | None = None,
    project_id: str | None = None,
    env: Mapping[str, str] | None = None,
    startup_timeout: float = 30.0,
    workers: int = 1,
) -> Iterator[StytchServer]:
    """Start ``totpflow serve`` on a free loopback port with a fresh project; stop it on exit.

    The store is a new SQLite file in ``directory`` (a temporary directory when omitted) unless
    ``database_url`` is given (PostgreSQL then needs ``TOTPFLOW_MASTER_KEY`` in ``env``). ``project_id`` names
    the project to serve (created, or given a new secret, when the server starts); a new one by default.
    ``workers`` is ``serve --workers``.
    """
    with contextlib.ExitStack() as stack:
        if directory is None:
            directory = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="totpflow-")))
        url = database_url or sqlite_url(directory / "totpflow.db")
        project_id = project_id or f"project-test-{uuid.uuid4()}"
        secret = "secret-test-" + base64.urlsafe_b64encode(secrets.token_bytes(27)).decode()
        port = free_port()
        child_env = {
            **os.environ,
            "TOTPFLOW_PROJECT_ID": project_id,
            "TOTPFLOW_PROJECT_SECRET": secret,
            "TOTPFLOW_DATABASE_URL": url,
            **(env or {}),
        }
        log = stack.enter_context((directory / f"server-{port}.log").open("wb"))
        process = subprocess.Popen(
            [
                *(sys.executable, "-m", "totpflow", "serve", "--host", "127.0.0.1", "--port", str(port)),
                *(("--workers", str(workers)) if workers != 1 else ()),
            ],
            env=child_env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        stack.callback(_stop, process)
        base_url = f"http://127.0.0.1:{port}"
        _wait_until_ready(base_url, process, startup_timeout, directory / f"server-{port}.log")
        yield StytchServer(base_url=base_url, project_id=project_id, secret=secret, database_url=url)


def _wait_until_ready(base_url: str, process: subprocess.Popen[bytes], timeout: float, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"totpflow serve exited with {process.returncode}:\n{log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(base_url + "/openapi.json", timeout=1) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.05)
    raise RuntimeError(f"totpflow serve did not answer within {timeout} s:\n{log.read_text()[-2000:]}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


try:  # the pytest plugin's fixtures, registered through this module's entry point
    from totpflow.pytest_plugin import stytch_client, totp_code, totpflow_server  # noqa: F401
except ModuleNotFoundError as exc:  # no pytest: run_server and current_totp still work
    if exc.name != "pytest":
        raise
