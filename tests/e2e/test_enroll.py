"""`totpflow enroll`, as a person and as CI would run it: real processes, a real terminal, real HTTP."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pyotp
import pytest
from terminal import Terminal, scan

from totpflow.testing import StytchServer, run_server


def _email() -> str:
    return f"enroll-{uuid.uuid4().hex[:12]}@example.com"


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOTPFLOW_")}
    env["TOTPFLOW_HOME"] = str(home)
    return env


def test_unattended_json_on_the_embedded_store_mints_a_session_the_server_accepts(tmp_path: Path) -> None:
    email = _email()
    done = subprocess.run(
        [sys.executable, "-m", "totpflow", "enroll", "--email", email, "--unattended", "--json"],
        capture_output=True,
        text=True,
        env=_env(tmp_path),
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)  # one JSON object and nothing else
    assert result["ok"] is True
    assert result["userId"].startswith("user-test-")
    assert result["totpId"].startswith("totp-test-")
    assert len(result["recoveryCodes"]) == 10

    # The same store, now served by `totpflow serve` with the credentials enroll showed for the project it
    # created: the session minted by enroll is accepted.
    database = tmp_path / "totpflow.db"
    assert database.exists(), list(tmp_path.iterdir())
    served = {**_env(tmp_path), "TOTPFLOW_PROJECT_ID": "", "TOTPFLOW_PROJECT_SECRET": ""}
    with run_server(tmp_path, database_url=f"sqlite:///{database}", env=served) as launched:
        server = StytchServer(
            launched.base_url, result["projectId"], result["projectSecret"], launched.database_url
        )
        session = server.client().sessions.authenticate(session_token=result["sessionToken"])
        assert session.user.user_id == result["userId"]
        assert session.session.authentication_factors[0].type.value == "totp"


def _against(server: StytchServer) -> list[str]:
    return ["--base-url", server.base_url, "--project-id", server.project_id, "--secret", server.secret]


def _enroll(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "totpflow", "enroll", *args], capture_output=True, text=True, timeout=120
    )


def test_unattended_against_a_running_server(totpflow_server: StytchServer) -> None:
    email = _email()
    done = _enroll("--email", email, "--unattended", "--json", *_against(totpflow_server))
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    session = totpflow_server.client().sessions.authenticate(session_token=result["sessionToken"])
    assert session.session.user_id == result["userId"]
    # A second enrollment of the same, now confirmed, email is refused without touching the user.
    again = _enroll("--email", email, "--unattended", "--json", "--restart", *_against(totpflow_server))
    assert again.returncode == 1
    assert json.loads(again.stdout)["ok"] is False
    assert "already has a confirmed authenticator" in again.stderr
    user = totpflow_server.client().users.get(user_id=result["userId"])
    assert [t.verified for t in user.totps] == [True]


def _wrong_code(secret: str) -> str:
    totp = pyotp.TOTP(secret)
    now = time.time()
    valid = {totp.at(now + d) for d in (-60, -30, 0, 30, 60)}
    return next(c for c in ("000000", "111111", "222222", "333333") if c not in valid)


@pytest.mark.parametrize("wrong_first", [False, True], ids=["right-code", "wrong-then-right"])
def test_interactive_enrollment_by_scanning_the_terminal(
    totpflow_server: StytchServer, wrong_first: bool
) -> None:
    email = _email()
    term = Terminal(
        [
            sys.executable,
            "-m",
            "totpflow",
            "enroll",
            "--email",
            email,
            "--base-url",
            totpflow_server.base_url,
            "--project-id",
            totpflow_server.project_id,
            "--secret",
            totpflow_server.secret,
        ],
        env={**os.environ, "TERM": "xterm"},
    )
    screen = term.read_until(r"Enter the 6-digit code")
    uri = scan(screen)
    assert uri.startswith("otpauth://totp/")
    secret = re.search(r"secret=([A-Z2-7]+)", uri).group(1)  # type: ignore[union-attr]
    if wrong_first:
        term.type(_wrong_code(secret) + "\n")
        term.read_until(r"not accepted|invalid|wrong|incorrect.*\n.*Enter the 6-digit code")
        term.read_until(r"Enter the 6-digit code[^\n]*$")
    term.type(pyotp.TOTP(secret).now() + "\n")
    screen = term.read_until(r"Recovery codes")
    assert term.close() == 0
    assert f"Enrolled {email}" in screen
    token = re.search(r"session token\s+(\S+)", screen).group(1)  # type: ignore[union-attr]
    session = totpflow_server.client().sessions.authenticate(session_token=token)
    assert session.user.emails[0].email == email


def test_an_interrupted_enrollment_can_be_finished_or_restarted(totpflow_server: StytchServer) -> None:
    email = _email()
    argv = [sys.executable, "-m", "totpflow", "enroll", "--email", email, *_against(totpflow_server)]
    first = Terminal(argv, env={**os.environ, "TERM": "xterm"})
    secret = re.search(r"secret=([A-Z2-7]+)", scan(first.read_until(r"Enter the 6-digit code")))
    assert secret is not None
    first.process.send_signal(signal.SIGINT)  # Ctrl-C at the prompt
    assert first.close() != 0

    # Unattended, the pending registration cannot be finished (no code): a clear way out is given.
    stuck = _enroll("--email", email, "--unattended", *_against(totpflow_server))
    assert stuck.returncode == 1
    assert "--restart" in stuck.stderr

    # Interactively, the app that scanned the first QR code finishes it.
    second = Terminal(argv, env={**os.environ, "TERM": "xterm"})
    second.read_until(r"never confirmed|unconfirmed")
    second.read_until(r"Enter the 6-digit code[^\n]*$")
    second.type(pyotp.TOTP(secret.group(1)).now() + "\n")
    screen = second.read_until(r"Recovery codes")
    assert second.close() == 0
    assert "finished the pending registration" in screen
    user_id = re.search(r"user id\s+(\S+)", screen).group(1)  # type: ignore[union-attr]
    assert [t.verified for t in totpflow_server.client().users.get(user_id=user_id).totps] == [True]


def test_restart_replaces_an_unconfirmed_enrollment(totpflow_server: StytchServer) -> None:
    email = _email()
    client = totpflow_server.client()
    pending = client.users.create(email=email)
    client.totps.create(user_id=pending.user_id)  # created, never confirmed (an interrupted enrollment)
    done = _enroll("--email", email, "--unattended", "--json", "--restart", *_against(totpflow_server))
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["userId"] != pending.user_id
    assert [t.verified for t in client.users.get(user_id=result["userId"]).totps] == [True]


# `totpflow enroll` in a process that has one more thread, which prints its kernel thread id and waits.
_WITH_A_BYSTANDER_THREAD = """
import sys, threading
from totpflow.cli import main

def bystander():
    sys.stderr.write(f"bystander thread {threading.get_native_id()}\\n")
    sys.stderr.flush()
    threading.Event().wait()

threading.Thread(target=bystander, daemon=True).start()
sys.exit(main(sys.argv[1:]))
"""


def test_ctrl_c_at_the_prompt_ends_enroll_even_when_no_read_is_interrupted(
    totpflow_server: StytchServer,
) -> None:
    """A SIGINT whose handler cannot interrupt the read at the prompt — it arrived just before the read
    started (seen under load), or the kernel handed it to another thread of the process — still ends enroll.

    Sending it to another thread makes that case certain: the main thread's read is never interrupted, so
    only a wait that also watches the signal wake-up descriptor notices it. Against a running server, so
    that the enroll process has no threads but these two."""
    term = Terminal(
        [
            sys.executable,
            "-c",
            _WITH_A_BYSTANDER_THREAD,
            "enroll",
            "--email",
            _email(),
            *_against(totpflow_server),
        ],
        env={**os.environ, "TERM": "xterm"},
    )
    screen = term.read_until(r"Enter the 6-digit code[^\n]*$")
    bystander = int(re.search(r"bystander thread (\d+)", screen).group(1))  # type: ignore[union-attr]
    os.kill(bystander, signal.SIGINT)  # Linux: a process-wide signal, delivered to that thread
    try:
        assert term.process.wait(timeout=30) == 130
    finally:
        if term.process.poll() is None:
            term.process.kill()
        term.close()


def test_a_copy_without_the_openapi_source_fails_with_a_message_not_a_traceback(tmp_path: Path) -> None:
    """The shipped workflow is found beside the sources, its OpenAPI description is not: exit 1, one line."""
    import shutil

    import totpflow

    package = Path(totpflow.__file__).parent
    checkout = package.parents[1]
    if not (checkout / "arazzo").is_dir():
        pytest.skip("totpflow is not imported from a checkout")
    shutil.copytree(package, tmp_path / "src" / "totpflow", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(checkout / "arazzo", tmp_path / "arazzo")
    env = {**_env(tmp_path / "home"), "PYTHONPATH": str(tmp_path / "src"), "TOTPFLOW_CACHE_DIR": ""}
    done = subprocess.run(
        [sys.executable, "-m", "totpflow", "enroll", "--email", _email(), "--unattended"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert "stytch-consumer-openapi.yml" in done.stderr
    assert done.stderr.startswith("totpflow enroll: the shipped workflow"), done.stderr


class _Refusing(BaseHTTPRequestHandler):
    """A server whose error message carries terminal controls (JSON escapes, so the body is valid JSON)."""

    def _refuse(self) -> None:
        body = json.dumps(
            {"status_code": 400, "error_type": "bad\x1b[31m", "error_message": "\x1b]0;pwned\x07\u202eno"}
        ).encode()
        self.send_response(400)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = _refuse

    def log_message(self, *args: object) -> None:
        pass


def test_a_server_s_error_message_is_shown_never_obeyed() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Refusing)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        base_url = f"http://127.0.0.1:{server.server_address[1]}"
        done = _enroll("--email", _email(), "--unattended", "--base-url", base_url, "--project-id", "p",
                       "--secret", "s")  # fmt: skip
    finally:
        server.shutdown()
        server.server_close()
    assert done.returncode == 1, done.stderr
    assert not re.search("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e]", done.stdout + done.stderr), done.stderr
    assert "bad\\x1b[31m: \\x1b]0;pwned\\x07\\u202eno" in done.stderr
