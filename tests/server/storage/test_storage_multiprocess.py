"""Several server processes starting at once against one database: migrations (an advisory lock on
PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite), project bootstrap and signing-key creation all converge."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys

PROCESSES = 4

SCRIPT = """
import json, os, sys
from totpflow.server import services
from totpflow.server.crypto import Cipher, utc_now, decode_master_key
from totpflow.server.storage import open_store
store = open_store(sys.argv[1])
cipher = Cipher(decode_master_key(os.environ["TOTPFLOW_MASTER_KEY"]))
deps = services.Deps(store=store, clock=utc_now, cipher=cipher)
project = services.ensure_project(deps, project_id="project-test-multi", secret="s3cret-shared")
print(json.dumps([k["kid"] for k in services.get_jwks(deps, project.project_id)]))
"""


def test_processes_start_together(database_url: str, master_key: bytes) -> None:
    env = dict(os.environ, TOTPFLOW_MASTER_KEY=base64.b64encode(master_key).decode())
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", SCRIPT, database_url],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(PROCESSES)
    ]
    results = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0] * PROCESSES, [err[-2000:] for _, err in results]
    kids = {tuple(json.loads(out)) for out, _ in results}
    assert len(kids) == 1 and len(next(iter(kids))) == 1
