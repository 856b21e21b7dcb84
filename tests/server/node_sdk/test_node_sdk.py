"""The official Node SDK (npm ``stytch``, the major ``.ci/run`` installs) against a real ``totpflow serve``
process, on SQLite and PostgreSQL.

The cases are Node modules in ``cases/``: every ``export async function test…(ctx)`` is one case (``lib.mjs``
gives it a client, TOTP codes, error assertions and ``rbacSet``). For each backend this driver starts a
server (lock threshold 3), sets ``tests/server/data/rbac/policy.yaml`` with ``totpflow rbac set``, runs
``run.mjs`` over every case file in one Node process, and reports each case as one pytest item. To add cases,
add an exported ``test…`` function to a case file (or a new file in ``cases/``).

The SDK is looked for in ``$TOTPFLOW_NODE_SDK`` (a folder whose ``node_modules`` holds ``stytch``), else in
``.ci/node``; the tests skip, saying why, only when Node or the SDK is absent.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rbackit import rbac_set
from serverkit import BACKENDS, start

HERE = Path(__file__).parent
REPO = HERE.parents[2]
CASE_FILES = sorted((HERE / "cases").glob("*.mjs"))
CASES = [
    (path.stem, name)
    for path in CASE_FILES
    for name in re.findall(r"^export async function (test\w+)\(", path.read_text(encoding="utf-8"), re.M)
]
SDK_ENV = "TOTPFLOW_NODE_SDK"
LOCK_THRESHOLD = "3"
MARK = "@@case "


def sdk_folder() -> Path | None:
    configured = os.environ.get(SDK_ENV)
    folder = Path(configured) if configured else REPO / ".ci" / "node"
    return folder if (folder / "node_modules" / "stytch" / "package.json").is_file() else None


def unavailable() -> str | None:
    if shutil.which("node") is None:
        return "Node.js is not installed (the Node SDK tests need `node` on PATH)"
    if sdk_folder() is None:
        return (
            f"the Node SDK is not installed: run .ci/run, or `npm install stytch@14` in .ci/node "
            f"(or in a folder named by ${SDK_ENV})"
        )
    return None


@pytest.fixture(scope="module", params=BACKENDS)
def results(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[dict[tuple[str, str], dict[str, Any]], str]]:
    reason = unavailable()
    if reason is not None:
        pytest.skip(reason)
    folder = sdk_folder()
    assert folder is not None
    directory = tmp_path_factory.mktemp(f"node-sdk-{request.param}")
    with start(request.param, directory, {"TOTPFLOW_LOCK_THRESHOLD": LOCK_THRESHOLD}) as running:
        rbac_set(running, "policy.yaml")
        server = running.server
        env = {
            **os.environ,
            **running.env,
            SDK_ENV: str(folder),
            "TOTPFLOW_TEST_BASE_URL": server.base_url,
            "TOTPFLOW_TEST_PROJECT_ID": server.project_id,
            "TOTPFLOW_TEST_SECRET": server.secret,
            "TOTPFLOW_TEST_PYTHON": sys.executable,
            "TOTPFLOW_TEST_DATABASE_URL_OF_SERVER": server.database_url,
        }
        run = subprocess.run(
            ["node", str(HERE / "run.mjs"), *map(str, CASE_FILES)],
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
        )
    reports = [json.loads(line[len(MARK) :]) for line in run.stdout.splitlines() if line.startswith(MARK)]
    diagnostics = f"node exited {run.returncode}; stderr (last 3000 characters):\n{run.stderr[-3000:]}"
    yield {(r["file"], r["name"]): r for r in reports}, diagnostics


@pytest.mark.parametrize(("case_file", "name"), CASES, ids=[f"{f}.{n}" for f, n in CASES])
def test_node_sdk(
    results: tuple[dict[tuple[str, str], dict[str, Any]], str], case_file: str, name: str
) -> None:
    reports, diagnostics = results
    report = reports.get((case_file, name))
    assert report is not None, f"the Node run did not report {case_file}.{name}; {diagnostics}"
    assert report["ok"], report["error"]


def test_cases_were_found() -> None:
    assert len(CASES) >= 20, CASES
