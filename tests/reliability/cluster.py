"""Several ``totpflow serve`` processes on ONE store (a SQLite file or a PostgreSQL schema) serving ONE
project, for the reliability suites: races across processes, ``kill -9`` and restart, killed database
connections.

Every process gets the same ``TOTPFLOW_PROJECT_ID``/``TOTPFLOW_PROJECT_SECRET`` and ``TOTPFLOW_MASTER_KEY``
(PostgreSQL refuses to start without the key; on SQLite sharing it explicitly keeps the key file out of the
race). Processes are started one after the other, so schema migration and project creation happen once.
PostgreSQL stores live in a fresh schema (``serverkit.postgres_schema_url``), dropped afterwards.
"""

from __future__ import annotations

import base64
import contextlib
import os
import secrets
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx
from serverkit import basic, loopback_client, master_key, postgres_schema_url

from totpflow.testing import _wait_until_ready, free_port

STARTUP_TIMEOUT = 30.0


@dataclass
class Node:
    """One server process (restartable on the same port)."""

    port: int
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    log: IO[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@dataclass
class Cluster:
    """Server processes sharing a store and a project."""

    backend: str
    database_url: str
    project_id: str
    secret: str
    env: dict[str, str]
    directory: Path
    nodes: list[Node] = field(default_factory=list)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": basic(self.project_id, self.secret)}

    def client(self, node: int = 0, timeout: float = 60.0) -> httpx.Client:
        return loopback_client(self.nodes[node].base_url, headers=self.headers, timeout=timeout)

    def add_node(self) -> Node:
        port = free_port()
        node = Node(port=port, log_path=self.directory / f"server-{port}.log")
        self.nodes.append(node)
        self.start(node)
        return node

    def start(self, node: Node) -> None:
        if node.log is not None:
            node.log.close()
        node.log = node.log_path.open("ab")
        child_env = {
            **os.environ,
            "TOTPFLOW_PROJECT_ID": self.project_id,
            "TOTPFLOW_PROJECT_SECRET": self.secret,
            "TOTPFLOW_DATABASE_URL": self.database_url,
            **self.env,
        }
        node.process = subprocess.Popen(
            [sys.executable, "-m", "totpflow", "serve", "--host", "127.0.0.1", "--port", str(node.port)],
            env=child_env,
            stdout=node.log,
            stderr=subprocess.STDOUT,
        )
        _wait_until_ready(node.base_url, node.process, STARTUP_TIMEOUT, node.log_path)

    def kill(self, node: Node) -> None:
        """``kill -9``: no shutdown handler runs, open transactions die with the process."""
        assert node.process is not None
        node.process.send_signal(signal.SIGKILL)
        node.process.wait(timeout=30)

    def stop(self, node: Node) -> None:
        if node.process is not None and node.process.poll() is None:
            node.process.terminate()
            try:
                node.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                node.process.kill()
                node.process.wait()
        if node.log is not None:
            node.log.close()
            node.log = None

    def logs(self) -> str:
        return "\n".join(n.log_path.read_text(errors="replace") for n in self.nodes if n.log_path.exists())


@contextlib.contextmanager
def cluster(
    backend: str,
    directory: Path,
    size: int = 2,
    env: dict[str, str] | None = None,
    application_name: str | None = None,
) -> Iterator[Cluster]:
    """``size`` server processes on one fresh store of ``backend`` ("sqlite" or "postgres"); on PostgreSQL
    their connections carry ``application_name`` when given (so a test can find and terminate them)."""
    extra = {"TOTPFLOW_MASTER_KEY": master_key(), **(env or {})}
    project_id = f"project-test-{uuid.uuid4()}"
    secret = "secret-test-" + base64.urlsafe_b64encode(secrets.token_bytes(27)).decode()
    with contextlib.ExitStack() as stack:
        if backend == "sqlite":
            url = f"sqlite:///{directory / 'totpflow.db'}"
        else:
            url = stack.enter_context(postgres_schema_url())
            if application_name:
                url += f"&application_name={application_name}"
        running = Cluster(backend, url, project_id, secret, extra, directory)
        try:
            for _ in range(size):
                running.add_node()
            yield running
        finally:
            for node in running.nodes:
                running.stop(node)
