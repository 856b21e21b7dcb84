"""``totpflow serve --log-format text`` and ``--quiet``: the flags (not only the environment) choose the
request log on stderr."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def served_log(tmp_path: Path, *flags: str) -> str:
    """Start serve with ``flags``, make one JWKS request once it answers, stop it, return its stderr."""
    port = free_port()
    base = {k: v for k, v in os.environ.items() if not k.startswith("TOTPFLOW_")}
    env = {**base, "TOTPFLOW_HOME": str(tmp_path), "TOTPFLOW_PROJECT_ID": "project-test-logs",
           "TOTPFLOW_PROJECT_SECRET": "secret-test-logs-0123456789abcdefghij"}  # fmt: skip
    stderr = (tmp_path / "stderr.log").open("w+")
    process = subprocess.Popen(
        [sys.executable, "-m", "totpflow", "serve", "--port", str(port),
         "--database-url", f"sqlite:///{tmp_path / 'x.db'}", *flags],
        env=env, stdout=subprocess.DEVNULL, stderr=stderr,
    )  # fmt: skip
    try:
        for _ in range(600):  # readiness wait
            if process.poll() is not None:
                pytest.fail(f"serve exited with {process.returncode}")
            try:
                httpx.get(f"http://127.0.0.1:{port}/v1/sessions/jwks/project-test-logs")
                break
            except httpx.TransportError:
                time.sleep(0.05)
    finally:
        process.terminate()
        process.wait(timeout=10)
        stderr.close()
    return (tmp_path / "stderr.log").read_text()


def test_text_format_flag(tmp_path: Path) -> None:
    log = served_log(tmp_path, "--log-format", "text")
    lines = [line for line in log.splitlines() if "request-id-test-" in line]
    assert lines and lines[-1].split()[2:5] == ["GET", "/v1/sessions/jwks/{project_id}", "200"]


def test_quiet_flag(tmp_path: Path) -> None:
    log = served_log(tmp_path, "--quiet")
    assert "request-id-test-" not in log
    assert " INFO " not in log and '"info"' not in log  # only warnings and errors


def test_json_log_is_json_throughout(tmp_path: Path) -> None:
    """uvicorn's own lines are rendered like the request lines: every line on stderr is one JSON object."""
    lines = [json.loads(line) for line in served_log(tmp_path, "--log-format", "json").splitlines()]
    assert all(isinstance(line, dict) and "ts" in line for line in lines)
    assert any(line.get("route") == "/v1/sessions/jwks/{project_id}" for line in lines)
    server = [line for line in lines if "route" not in line]
    assert {line["logger"].split(".")[0] for line in server} == {"totpflow", "uvicorn"}
    assert all({"level", "logger", "pid", "message"} <= set(line) for line in server)


def test_text_log_has_no_json_lines(tmp_path: Path) -> None:
    lines = served_log(tmp_path, "--log-format", "text").splitlines()
    assert lines and all(TEXT_LINE.match(line) for line in lines), lines
    assert any(line.split()[2].startswith("uvicorn") for line in lines)


TEXT_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z \S+ \S+")
