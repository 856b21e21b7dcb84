"""``totpflow serve`` and ``totpflow project create`` as subprocesses: exit codes, messages, secrets."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import secrets
import shlex
import socket
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from totpflow.server.openapi import build_document
from totpflow.testing import free_port, run_server


def totpflow(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("TOTPFLOW_")}
    return subprocess.run(
        [sys.executable, "-m", "totpflow", *args],
        env={**base, **(env or {})},
        stdin=subprocess.DEVNULL,  # never the terminal pytest may run in: no command here reads one
        capture_output=True,
        text=True,
        timeout=120,
    )


def assert_usage_error(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in result.stderr


def test_project_create_prints_credentials(tmp_path: Path) -> None:
    result = totpflow(
        "project", "create", "--name", "shop", "--database-url", f"sqlite:///{tmp_path / 'p.db'}"
    )
    assert result.returncode == 0, result.stderr
    created = json.loads(result.stdout)
    assert set(created) == {"project_id", "secret", "name"}
    assert created["name"] == "shop" and created["project_id"].startswith("project-test-")
    assert (tmp_path / "p.db.key").stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize("name", ["x" * 201, "evil\x1b[2J\nfake line", ""])
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_project_name_that_cannot_be_stored_or_shown_is_refused_first(
    tmp_path: Path, name: str, backend: str
) -> None:
    """A name longer than its column (PostgreSQL raised a traceback quoting the INSERT, SQLite stored it)
    or with a control character (it reached operators' terminals) is refused before the store is opened: exit
    2, the same on both backends, no new file."""
    url = (
        f"sqlite:///{tmp_path / 'p.db'}"
        if backend == "sqlite"
        else "postgresql://postgres@127.0.0.1:5432/test"
    )
    key = {"TOTPFLOW_MASTER_KEY": base64.b64encode(b"k" * 32).decode()} if backend == "postgresql" else {}
    result = totpflow("project", "create", "--name", name, "--database-url", url, env=key)
    assert_usage_error(result, "the name is invalid")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "args",
    [
        ["users", "show", "ID"],
        ["users", "unlock", "ID"],
        ["users", "delete", "ID"],
        ["sessions", "revoke", "ID"],
        ["project", "reset-secret", "ID"],
        ["users", "list", "--email", "ID"],
        ["project", "create", "--name", "ID"],
    ],
    ids=lambda args: " ".join(args[:2]),
)
def test_an_argument_that_is_not_utf_8_is_bad_input(tmp_path: Path, args: list[str]) -> None:
    """Bytes that are not UTF-8 in an argument (Python holds them as lone surrogates) are exit 2 with a
    message, not a traceback from the database driver."""
    url = f"sqlite:///{tmp_path / 's.db'}"
    assert totpflow("project", "create", "--database-url", url).returncode == 0
    undecodable = os.fsdecode(b"a\xffb")
    result = totpflow(*[undecodable if arg == "ID" else arg for arg in args], "--database-url", url)
    assert_usage_error(result, "not valid UTF-8")


def test_serve_with_a_project_secret_that_is_not_utf_8_exits_2(tmp_path: Path) -> None:
    secret = os.fsdecode(b"s" * 40 + b"\xff")
    env = {"TOTPFLOW_PROJECT_ID": "project-test-x", "TOTPFLOW_PROJECT_SECRET": secret}
    url = f"sqlite:///{tmp_path / 's.db'}"
    result = totpflow("serve", "--port", str(free_port()), "--database-url", url, env=env)
    assert_usage_error(result, "not valid UTF-8")


@pytest.mark.parametrize("args", [["users", "list", "--json"], ["keys", "rotate", "--now"]])
def test_output_into_a_closed_pipe_ends_without_a_traceback(tmp_path: Path, args: list[str]) -> None:
    """``| true`` has exited before the command writes: the command ends (exit 1, what it did stays done)
    without a traceback, and none at the interpreter's exit either."""
    url = f"sqlite:///{tmp_path / 's.db'}"
    assert totpflow("project", "create", "--database-url", url).returncode == 0
    parts = [sys.executable, "-m", "totpflow", *args, "--database-url", url]
    command = " ".join(shlex.quote(part) for part in parts)
    base = {k: v for k, v in os.environ.items() if not k.startswith("TOTPFLOW_")}
    done = subprocess.run(
        ["bash", "-c", f"{command} 2>{shlex.quote(str(tmp_path / 'err'))} | true; exit ${{PIPESTATUS[0]}}"],
        env=base, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    errors = (tmp_path / "err").read_text()
    assert done.returncode == 1, errors
    assert "Traceback" not in errors and "BrokenPipeError" not in errors


@pytest.mark.parametrize(
    "args", [["users", "list"], ["project", "list"], ["project", "create"], ["serve", "--port", "PORT"]]
)
def test_a_folder_named_as_the_database_is_refused_and_no_key_file_made(
    tmp_path: Path, args: list[str]
) -> None:
    (tmp_path / "dir.db").mkdir()
    args = [str(free_port()) if arg == "PORT" else arg for arg in args]
    result = totpflow(*args, "--database-url", f"sqlite:///{tmp_path / 'dir.db'}")
    assert_usage_error(result, "is a folder, not a database file")
    assert [path.name for path in tmp_path.iterdir()] == ["dir.db"]


@pytest.mark.parametrize("args", [["users", "list"], ["project", "list"], ["rbac", "show"]])
def test_an_empty_file_is_no_database_to_a_command_that_reads_one(tmp_path: Path, args: list[str]) -> None:
    """Only ``project create`` (like ``serve`` and ``enroll``) makes a store; the others leave the file as it
    was (SQLite would have taken it as a new database and the schema would have gone in) and make no key."""
    (tmp_path / "empty.db").touch()
    result = totpflow(*args, "--database-url", f"sqlite:///{tmp_path / 'empty.db'}")
    assert_usage_error(result, "no database at")
    assert [path.name for path in tmp_path.iterdir()] == ["empty.db"]
    assert (tmp_path / "empty.db").stat().st_size == 0


@pytest.mark.parametrize("email", ["bad", "x\x1b[31m@example.com", "a@" + "\u0130" * 247 + ".co"])
def test_enroll_refuses_a_malformed_email_before_it_makes_a_project(tmp_path: Path, email: str) -> None:
    result = totpflow(
        "enroll", "--email", email, "--unattended", "--database-url", f"sqlite:///{tmp_path / 'e.db'}"
    )
    assert_usage_error(result, "is not a valid email address")
    assert list(tmp_path.iterdir()) == []


def test_enroll_refuses_a_secret_without_a_base_url(tmp_path: Path) -> None:
    result = totpflow(
        "enroll",
        "--email",
        "a@example.com",
        "--unattended",
        "--secret",
        "secret-test-x",
        "--database-url",
        f"sqlite:///{tmp_path / 'e.db'}",
    )
    assert_usage_error(result, "--secret is the project secret for --base-url")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--email", "bad", "--unattended"], "is not a valid email address"),
        (["--email", "a@example.com", "--unattended", "--session-minutes", "1"], "--session-minutes"),
        (["--email", "a@example.com"], "stdin is not a terminal"),
        (["--email", "a@example.com", "--unattended", "--secret", "s"], "--secret"),
        (["--email", "a@example.com", "--unattended", "--base-url", "http://127.0.0.1:1"], "--project-id"),
    ],
)
def test_enroll_json_refusals_are_one_json_object_too(tmp_path: Path, args: list[str], message: str) -> None:
    """``--json`` promises one JSON object and nothing else on stdout: a refusal (exit 2) is one too."""
    result = totpflow("enroll", "--json", *args, "--database-url", f"sqlite:///{tmp_path / 'e.db'}")
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr and message in result.stderr
    (line,) = result.stdout.splitlines()
    answer = json.loads(line)
    assert answer["ok"] is False and message in answer["error"]
    assert list(tmp_path.iterdir()) == []


def test_store_commands_do_not_need_the_rate_limit_redis(tmp_path: Path) -> None:
    """An operator unlocks users and revokes sessions during a Redis outage: the store commands make no
    rate-limited call, so the rate-limit Redis (here a port nothing listens on) is not connected to."""
    url = f"sqlite:///{tmp_path / 's.db'}"
    assert totpflow("project", "create", "--database-url", url).returncode == 0
    down = {"TOTPFLOW_RATE_LIMIT_REDIS": f"redis://127.0.0.1:{free_port()}/0"}
    listed = totpflow("users", "list", "--json", "--database-url", url, env=down)
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout) == []


@pytest.mark.parametrize("how", ["url", "home"])
def test_a_percent_sign_in_the_database_path_names_one_private_file(tmp_path: Path, how: str) -> None:
    """``sqlite:///…/a%20b.db`` is the file ``a b.db`` (a URL's path is read decoded), and every file of the
    store is beside it, owner-only; a ``TOTPFLOW_HOME`` holding ``%41`` is that folder, not ``A``."""
    if how == "url":
        folder, args, env = tmp_path, ["--database-url", f"sqlite:///{tmp_path}/a%20b.db"], {}
        database = folder / "a b.db"
    else:
        folder, args, env = tmp_path / "h%41", [], {"TOTPFLOW_HOME": str(tmp_path / "h%41")}
        database = folder / "totpflow.db"
    result = totpflow("project", "create", *args, env=env)
    assert result.returncode == 0, result.stderr
    made = sorted(path.name for path in folder.iterdir())
    assert made == sorted(database.name + suffix for suffix in ("", ".key", "-writers"))
    for path in folder.iterdir():
        assert path.stat().st_mode & 0o777 == 0o600, path


@pytest.mark.parametrize(
    ("args", "env", "fragments"),
    [
        (["project", "create", "--database-url", "mysql://root@localhost/db"], {}, ["database URL"]),
        (["project", "create", "--database-url", "not a url"], {}, ["database URL"]),
        (["users", "list", "--database-url", "postgresql://postgres:hunter2@127.0.0.1:abc/x"], {},
         ["host or port is malformed"]),
        (["users", "list", "--database-url", "postgresql://postgres:hunter2@[::1/x"], {},
         ["host or port is malformed"]),
        (["users", "list", "--database-url", "sqlite://relative.db"], {}, ["three slashes"]),
        (["project", "create", "--database-url", "postgresql://postgres@127.0.0.1:5432/test"], {},
         ["TOTPFLOW_MASTER_KEY"]),
        (["project"], {}, []),
        (["serve", "--port", "eighty"], {}, ["--port"]),
        (["serve", "--port", "70000"], {}, ["--port"]),
        (["serve", "--workers", "0"], {}, ["--workers"]),
        (["serve", "--workers", "99999"], {}, ["--workers", "from 1 to 64"]),  # never a fork bomb
        (["serve", "--host", ""], {}, ["--host is empty"]),  # never every interface by accident
        (["serve", "--lock-threshold", "0"], {}, ["lock threshold"]),
        # digits other than ASCII ones pass str.isdigit; int() refuses them, and numbers over 4,300 digits
        (["serve"], {"TOTPFLOW_LOCK_THRESHOLD": "\u00b2"}, ["lock threshold"]),
        (["serve"], {"TOTPFLOW_LOCK_THRESHOLD": "1" + "0" * 5000}, ["lock threshold"]),
        (["serve"], {"TOTPFLOW_RSA_KEY_SIZE": "\u00b2"}, ["RSA key size"]),
        (["serve", "--rate-limit-user", "1/\u00b2"], {}, ["--rate-limit-user", "N/PERIOD"]),
        (["serve", "--rate-limit-project", "\u0663/minute"], {}, ["--rate-limit-project", "N/PERIOD"]),
        (["serve", "--database-url", "redis://x"], {}, ["database URL"]),
        (["serve", "--database-url", "sqlite:////tmp/x.db?mode=ro"], {}, ["takes no ?options"]),
        (["serve", "--database-url", "postgresql://postgres@127.0.0.1:5432/test"], {},
         ["TOTPFLOW_MASTER_KEY"]),
        (["serve", "--database-url", "postgresql://postgres:hunter2@127.0.0.1:1/none"],
         {"TOTPFLOW_MASTER_KEY": base64.b64encode(b"k" * 32).decode()},
         ["PostgreSQL at 127.0.0.1:1/none as postgres", "connection refused"]),
        # an unescaped "@" in the password: no part of it is printed, as the host or anywhere else
        (["users", "list", "--database-url", "postgresql://postgres:hun@ter2@127.0.0.1:1/none"],
         {"TOTPFLOW_MASTER_KEY": base64.b64encode(b"k" * 32).decode()},
         ["PostgreSQL at 127.0.0.1:1/none as postgres", "connection refused"]),
        (["serve"], {"TOTPFLOW_PROJECT_ID": "project-test-x"}, ["TOTPFLOW_PROJECT_SECRET"]),
        # the id is HTTP Basic auth's user name: one with ":" could never authenticate
        (["serve"], {"TOTPFLOW_PROJECT_ID": "proj:colon", "TOTPFLOW_PROJECT_SECRET": "s" * 40},
         ["TOTPFLOW_PROJECT_ID", "project_id is invalid"]),
        (["serve"], {"TOTPFLOW_MASTER_KEY": "short"}, ["TOTPFLOW_MASTER_KEY"]),
        (["serve"], {"TOTPFLOW_PROJECT_ID": "project-test-x", "TOTPFLOW_PROJECT_SECRET": "s" * 31},
         ["TOTPFLOW_PROJECT_SECRET", "at least 32 characters", "it has 31"]),
        (["serve", "--rsa-key-size", "1024"], {}, ["RSA key size", "2048, 3072, 4096"]),
        (["serve"], {"TOTPFLOW_RSA_KEY_SIZE": "huge"}, ["RSA key size"]),
        (["serve", "--master-key-file", "/nonexistent-folder/k"], {}, ["master key file", "does not exist"]),
        (["serve", "--master-key-file", "k"], {"TOTPFLOW_MASTER_KEY": base64.b64encode(b"k" * 32).decode()},
         ["not both"]),
        (["project", "create", "--master-key-file", "/nonexistent-folder/k"], {}, ["master key file"]),
        (["serve", "--master-key-file", "/dev/urandom"], {}, ["master key file", "not base64 text"]),
        (["project", "create", "--master-key-file", "/dev/zero"], {}, ["/dev/zero is not"]),
        (["enroll", "--email", "a@example.com", "--base-url", "notaurl", "--project-id", "p", "--secret", "s",
          "--unattended"], {}, ["notaurl"]),
        # an unknown argument is reported by its subcommand, with that subcommand's usage
        (["users", "list", "--bogus"], {}, ["totpflow users list", "--bogus"]),
        (["keys", "rotate", "--bogus"], {}, ["totpflow keys rotate [", "--bogus"]),
        (["run", "--bogus", "seed.yaml"], {}, ["totpflow run [", "--bogus"]),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, list) else None,
)  # fmt: skip
def test_bad_command_lines_exit_2(
    args: list[str], env: dict[str, str], fragments: list[str], tmp_path: Path
) -> None:
    result = totpflow(*args, env={"TOTPFLOW_HOME": str(tmp_path), **env})
    assert_usage_error(result, *fragments)
    assert "hunter2" not in result.stderr + result.stdout and "ter2" not in result.stderr + result.stdout


@pytest.mark.parametrize("kind", ["another-application", "not-sqlite"])
@pytest.mark.parametrize("command", [["project", "create"], ["serve", "--port", "1"], ["users", "list"]])
def test_a_file_that_is_no_totpflow_store_is_refused_and_left_as_it_was(
    tmp_path: Path, kind: str, command: list[str]
) -> None:
    path = tmp_path / "their.db"
    if kind == "another-application":
        with contextlib.closing(sqlite3.connect(path)) as db:
            db.execute("CREATE TABLE users (name TEXT)")
            db.commit()
    else:
        path.write_bytes(secrets.token_bytes(5000))
    path.chmod(0o644)
    before = path.read_bytes()
    result = totpflow(*command, env={"TOTPFLOW_DATABASE_URL": f"sqlite:///{path}"})
    assert_usage_error(result, str(path))
    assert path.read_bytes() == before and path.stat().st_mode & 0o777 == 0o644
    assert sorted(p.name for p in tmp_path.iterdir()) == ["their.db"]  # no key file, journal or WAL beside it


def test_print_openapi_is_the_document() -> None:
    result = totpflow("serve", "--print-openapi")
    assert result.returncode == 0, result.stderr
    assert yaml.safe_load(result.stdout) == build_document()


@pytest.fixture
def serve_output(tmp_path: Path) -> Iterator[list[str]]:
    """Start ``totpflow serve`` on a fresh SQLite file without project variables twice; yield both outputs."""
    outputs: list[str] = []
    for _ in range(2):
        with run_server(tmp_path, env={"TOTPFLOW_PROJECT_ID": "", "TOTPFLOW_PROJECT_SECRET": ""}) as server:
            log = next(tmp_path.glob(f"server-{server.base_url.rsplit(':', 1)[1]}.log"))
            outputs.append(log.read_text())
    yield outputs


def test_serve_creates_a_first_project_once(serve_output: list[str]) -> None:
    first, second = serve_output
    assert "database sqlite:///" in first
    assert "created project project-test-" in first and "project secret (shown only now): secret-" in first
    created = first.split("created project ", 1)[1].split()[0]
    shown = first.split("project secret (shown only now): ", 1)[1].split()[0]
    assert "created project" not in second and shown not in second
    assert f"project {created}" in second and f"totpflow project reset-secret {created}" in second


def test_serve_ensures_the_project_from_the_environment(tmp_path: Path) -> None:
    project_id = f"project-test-{uuid.uuid4()}"
    secret = "secret-test-" + base64.urlsafe_b64encode(os.urandom(27)).decode()
    env = {"TOTPFLOW_PROJECT_ID": project_id, "TOTPFLOW_PROJECT_SECRET": secret}
    for _ in range(2):  # idempotent: the second start finds the project and keeps working
        with run_server(tmp_path, env=env) as server:
            response = httpx.post(server.base_url + "/v1/users/search", json={}, auth=(project_id, secret))
            assert response.status_code == 200, response.text


def test_serve_with_two_workers(tmp_path: Path) -> None:
    """``--workers 2``: uvicorn's factory mode builds one app per process from the environment."""
    port = free_port()
    project_id = f"project-test-{uuid.uuid4()}"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("TOTPFLOW_")},
        "TOTPFLOW_DATABASE_URL": f"sqlite:///{tmp_path / 'w.db'}",
        "TOTPFLOW_PROJECT_ID": project_id,
        "TOTPFLOW_PROJECT_SECRET": "secret-test-workers-0123456789abcdef",
    }
    log = (tmp_path / "serve.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "totpflow", "serve", "--port", str(port), "--workers", "2"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(600):
            assert process.poll() is None, (tmp_path / "serve.log").read_text()
            try:
                if httpx.get(base + "/openapi.json").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.05)
        auth = (project_id, "secret-test-workers-0123456789abcdef")
        for _ in range(4):  # connections land on either worker
            with httpx.Client(base_url=base, auth=auth) as client:
                assert client.post("/v1/users/search", json={}).status_code == 200
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()
    started = [json.loads(line) for line in (tmp_path / "serve.log").read_text().splitlines() if "{" in line]
    assert len({line["pid"] for line in started if line.get("logger") == "totpflow.server"}) == 2


def _healthy(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200
    except httpx.TransportError:
        return False


def _gone(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].startswith("Z")  # a zombie: ended
    except FileNotFoundError:
        return True


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads a process's children from /proc")
def test_the_workers_end_when_their_supervisor_is_killed(tmp_path: Path) -> None:
    """``kill -9`` of the supervisor: its workers must not go on serving as orphans that hold the port."""
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("TOTPFLOW_")},
        "TOTPFLOW_DATABASE_URL": f"sqlite:///{tmp_path / 'w.db'}",
    }
    with (tmp_path / "serve.log").open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "totpflow", "serve", "--port", str(port), "--workers", "2"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    workers: list[int] = []
    try:
        deadline = time.monotonic() + 60
        while len(workers) < 2 or not _healthy(port):
            assert process.poll() is None, (tmp_path / "serve.log").read_text()
            assert time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
            time.sleep(0.1)
            children = Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text().split()
            workers = [int(pid) for pid in children]
    finally:
        process.kill()
        process.wait(timeout=30)
    deadline = time.monotonic() + 20
    while not all(_gone(pid) for pid in workers):
        assert time.monotonic() < deadline, "workers still running after their supervisor was killed"
        time.sleep(0.1)
    with pytest.raises(httpx.TransportError):
        httpx.get(f"http://127.0.0.1:{port}/healthz")


# A worker of `serve --workers N` (a process the supervisor spawned, with its pid in the environment; not
# multiprocessing's resource tracker) made slow to start: at interpreter start (before it answers the
# supervisor's health checks) or while it imports the app. It touches a file named after its pid, then sleeps.
SLOW_WORKER = """
import os, sys, time
from pathlib import Path

_supervisor = os.environ.get("TOTPFLOW_SUPERVISOR_PID")
_marks = Path(os.environ["SLOW_WORKER_MARKS"])


def _slow():
    (_marks / str(os.getpid())).touch()
    time.sleep(60)


if _supervisor is not None and "--multiprocessing-fork" in sys.argv:
    if os.environ["SLOW_WORKER_WHEN"] == "start":
        _slow()
    else:

        class _SlowApp:
            def find_spec(self, name, path=None, target=None):
                if name == "totpflow.server.app":
                    _slow()
                return None

        sys.meta_path.insert(0, _SlowApp())
"""


def _command_line(pid: int) -> str:
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    return "?"


def _session_processes(session: int) -> list[int]:
    """The live processes of a session (a supervisor started in a session of its own, and its workers)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            fields = stat.read_text().rsplit(") ", 1)[1].split()
            if fields[0] != "Z" and int(fields[3]) == session:
                found.append(int(stat.parent.name))
    return found


@pytest.mark.skipif(
    not Path("/proc/self/stat").is_file(), reason="reads the processes of a session from /proc"
)
@pytest.mark.parametrize("slow", ["start", "app"])
def test_sigterm_while_the_workers_start_stops_the_server_at_once(tmp_path: Path, slow: str) -> None:
    """SIGTERM while the workers are still starting (one that has not answered a health check yet, or is
    loading the app): the supervisor and every worker end within seconds, with exit code 0, rather than
    after the supervisor's health checks time out (5 s a worker) or the workers finish loading."""
    assert totpflow("project", "create", "--database-url", f"sqlite:///{tmp_path / 'w.db'}").returncode == 0
    hooks, marks = tmp_path / "hooks", tmp_path / "marks"
    hooks.mkdir()
    marks.mkdir()
    (hooks / "sitecustomize.py").write_text(SLOW_WORKER)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("TOTPFLOW_")},
        "TOTPFLOW_DATABASE_URL": f"sqlite:///{tmp_path / 'w.db'}",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(hooks), os.environ.get("PYTHONPATH")])),
        "SLOW_WORKER_MARKS": str(marks),
        "SLOW_WORKER_WHEN": slow,
    }
    command = [sys.executable, "-m", "totpflow", "serve", "--port", str(free_port()), "--workers", "2"]
    with (tmp_path / "serve.log").open("wb") as log:
        process = subprocess.Popen(
            command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + 60
        while len(list(marks.iterdir())) < 2:  # both workers are in their slow start
            assert process.poll() is None, (tmp_path / "serve.log").read_text()
            assert time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
            time.sleep(0.05)
        time.sleep(0.5)  # the supervisor is in its first round of health checks
        process.terminate()
        began = time.monotonic()
        code = process.wait(timeout=30)
        took = time.monotonic() - began
        deadline = time.monotonic() + 5
        while _session_processes(process.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        left = {pid: _command_line(pid) for pid in _session_processes(process.pid)}
    finally:
        for pid in _session_processes(process.pid):
            with contextlib.suppress(OSError):
                os.kill(pid, 9)
        if process.poll() is None:
            process.kill()
            process.wait()
    assert code == 0, (tmp_path / "serve.log").read_text()
    assert took < 4, f"stopped {took:.1f} s after SIGTERM"
    assert left == {}, f"processes left: {left}"


def test_serve_on_a_busy_port_fails_without_claiming_to_listen(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = totpflow("serve", "--port", str(port), env={"TOTPFLOW_HOME": str(tmp_path)})
    assert_usage_error(result, f"127.0.0.1:{port}")
    assert "listening" not in result.stdout + result.stderr


def test_serve_says_which_database_it_cannot_reach_and_why(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as closed:  # bound, never listening: refused
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
        url = f"postgresql://ops:hunter2@127.0.0.1:{port}/accounts"
        env = {"TOTPFLOW_HOME": str(tmp_path), "TOTPFLOW_MASTER_KEY": base64.b64encode(b"k" * 32).decode()}
        commands = (
            ["serve", "--database-url", url],
            ["project", "create", "--database-url", url],
            ["enroll", "--email", "ada@example.com", "--unattended", "--json", "--database-url", url],
        )
        for command in commands:
            result = totpflow(*command, env=env)
            assert_usage_error(
                result, f"PostgreSQL at 127.0.0.1:{port}/accounts as ops", "connection refused"
            )
            assert "hunter2" not in result.stderr + result.stdout
            if "--json" in command:  # the refusal as its one JSON object
                assert json.loads(result.stdout)["ok"] is False
            else:
                assert "listening" not in result.stdout


def _busy_port() -> tuple[socket.socket, int]:
    """A port something already listens on: ``serve`` then stops after its start-up checks (exit 2)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    return sock, sock.getsockname()[1]


def test_serve_warns_when_the_master_key_sits_beside_the_database(tmp_path: Path) -> None:
    sock, port = _busy_port()
    with sock:
        result = totpflow("serve", "--port", str(port), env={"TOTPFLOW_HOME": str(tmp_path / "data")})
    assert result.returncode == 2 and "Traceback" not in result.stderr
    (warning,) = [json.loads(line) for line in result.stderr.splitlines() if "master key file" in line]
    assert warning["level"] == "warning" and "--master-key-file" in warning["message"]
    assert (tmp_path / "data" / "totpflow.db.key").exists()


@pytest.mark.parametrize("how", ["flag", "environment"])
def test_a_master_key_file_elsewhere_is_used_and_not_warned_about(tmp_path: Path, how: str) -> None:
    keys = tmp_path / "keys"
    keys.mkdir()
    key_file = keys / "master.key"
    env = {"TOTPFLOW_HOME": str(tmp_path / "data")}
    args = ["--master-key-file", str(key_file)] if how == "flag" else []
    if how == "environment":
        env["TOTPFLOW_MASTER_KEY_FILE"] = str(key_file)
    created = totpflow("project", "create", *args, env=env)
    assert created.returncode == 0, created.stderr
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert not (tmp_path / "data" / "totpflow.db.key").exists()
    sock, port = _busy_port()
    with sock:
        served = totpflow("serve", "--port", str(port), *args, env=env)
    assert "warning" not in served.stderr and "cannot listen" in served.stderr
    # The project's secrets are under that key: rotating its signing key with it works, without it does not.
    project_id = json.loads(created.stdout)["project_id"]
    rotated = totpflow("keys", "rotate", "--project-id", project_id, *args, env=env)
    assert rotated.returncode == 0, rotated.stderr
    enrolled = totpflow("enroll", "--email", "kf@example.com", "--unattended", "--json", *args, env=env)
    assert enrolled.returncode == 0 and json.loads(enrolled.stdout)["ok"] is True, enrolled.stderr
    other = totpflow(
        "keys", "rotate", "--project-id", project_id, env={"TOTPFLOW_HOME": str(tmp_path / "data")}
    )
    assert other.returncode == 2 and "Traceback" not in other.stderr
