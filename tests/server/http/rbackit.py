"""RBAC helpers for the tests that run a real server (HTTP, Python SDK): set the project's policy with
``totpflow rbac set`` as an operator would, or store a policy document bypassing validation."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from serverkit import Backend

from totpflow.server.storage import open_store

POLICIES = Path(__file__).parents[1] / "data" / "rbac"


def rbac_set(backend: Backend, policy: str | Path) -> None:
    """``totpflow rbac set`` against the server's database (a file of ``tests/server/data/rbac`` by name)."""
    path = policy if isinstance(policy, Path) else POLICIES / policy
    result = subprocess.run(
        [
            sys.executable, "-m", "totpflow", "rbac", "set", str(path),
            "--database-url", backend.server.database_url, "--project-id", backend.server.project_id,
        ],
        env={**os.environ, **backend.env},
        capture_output=True,
        text=True,
        timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr


def store_policy_document(backend: Backend, document: object) -> None:
    """Store a policy document as is, bypassing validation (to simulate a corrupt stored policy)."""
    from datetime import UTC, datetime

    store = open_store(backend.server.database_url, migrate=False)
    try:
        with store.transaction() as tx:
            tx.set_rbac_policy(backend.server.project_id, document, datetime.now(UTC))  # type: ignore[arg-type]
    finally:
        store.dispose()
