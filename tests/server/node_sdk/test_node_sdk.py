"""The official Node SDK (npm ``stytch``, the major ``.ci/run`` installs) against a real ``totpflow serve``
process, on SQLite and PostgreSQL.

The cases are Node modules in ``cases/``: every ``export async function test…(ctx)`` is one case (``lib.mjs``
gives it a client, TOTP codes, error assertions and ``rbacSet``). For each backend this driver starts a
server (lock threshold 3), sets ``tests/server/data/rbac/policy.yaml`` with ``totpflow rbac set``, runs
``run.mjs`` over every case file in one Node process, and reports each case as one pytest item. To add cases,
add an exported ``test…`` function to a case file (or a new file in ``cases/``).

The SDK is looked for in ``$TOTPFLOW_NODE_SDK`` (a folder whose ``node_modules`` holds ``stytch``).
Without that variable it is ``.ci/node`` (git-ignored, shared with ``.ci/run``): when it lacks ``stytch`` of
major ``STYTCH_NODE_MAJOR`` and ``npm`` is on PATH, the session installs it there once, under a file lock so
that parallel runs install it once. The tests skip, saying why, only when Node or npm is absent, the install
fails, or ``$TOTPFLOW_NODE_SDK`` names a folder without the SDK.
"""

from __future__ import annotations

import fcntl
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


STYTCH_NODE_MAJOR = "14"
DEFAULT_FOLDER = REPO / ".ci" / "node"
INSTALL_TIMEOUT_S = 600


def has_sdk(folder: Path, major: str | None = None) -> bool:
    package = folder / "node_modules" / "stytch" / "package.json"
    if not package.is_file():
        return False
    if major is None:
        return True
    version = str(json.loads(package.read_text(encoding="utf-8")).get("version", ""))
    return version.split(".")[0] == major


def install_sdk(folder: Path) -> str | None:
    """Install npm ``stytch`` of major ``STYTCH_NODE_MAJOR`` into ``folder`` unless it is there; the reason it
    could not be, or None. One process installs at a time (an exclusive lock on a file in ``folder``)."""
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / ".install.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if has_sdk(folder, STYTCH_NODE_MAJOR):
            return None
        steps = [] if (folder / "package.json").is_file() else [["npm", "init", "-y"]]
        steps.append(["npm", "install", "--no-audit", "--no-fund", f"stytch@{STYTCH_NODE_MAJOR}"])
        for step in steps:
            try:
                done = subprocess.run(
                    step, cwd=folder, capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S, check=False
                )
            except (OSError, subprocess.TimeoutExpired) as exc:
                return f"`{' '.join(step)}` in {folder} did not finish: {type(exc).__name__}"
            if done.returncode != 0:
                return (
                    f"`{' '.join(step)}` in {folder} exited {done.returncode}: {done.stderr.strip()[-1500:]}"
                )
        if not has_sdk(folder, STYTCH_NODE_MAJOR):
            return (
                f"`npm install stytch@{STYTCH_NODE_MAJOR}` in {folder} left no stytch {STYTCH_NODE_MAJOR}.x"
            )
    return None


@pytest.fixture(scope="session")
def sdk_folder() -> Path:
    """The folder holding the Node SDK, installed if need be; skips (saying why) when it cannot be had."""
    if shutil.which("node") is None:
        pytest.skip("Node.js is not installed (the Node SDK tests need `node` on PATH)")
    configured = os.environ.get(SDK_ENV)
    if configured:
        if not has_sdk(Path(configured)):
            pytest.skip(f"${SDK_ENV} names {configured}, whose node_modules holds no `stytch`")
        return Path(configured)
    if has_sdk(DEFAULT_FOLDER, STYTCH_NODE_MAJOR):
        return DEFAULT_FOLDER
    if shutil.which("npm") is None:
        pytest.skip(
            f"npm is not installed, so the Node SDK (npm `stytch@{STYTCH_NODE_MAJOR}`) cannot be installed"
        )
    reason = install_sdk(DEFAULT_FOLDER)
    if reason is not None:
        pytest.skip(f"the Node SDK could not be installed: {reason}")
    return DEFAULT_FOLDER


@pytest.fixture(scope="module", params=BACKENDS)
def results(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, sdk_folder: Path
) -> Iterator[tuple[dict[tuple[str, str], dict[str, Any]], str]]:
    folder = sdk_folder
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
