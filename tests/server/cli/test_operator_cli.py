"""The first hour on one store, as subprocesses on SQLite and PostgreSQL: ``totpflow enroll`` creates the
store's project and shows its credentials once, ``totpflow serve`` serves that same project, and the operator
commands (``project``, ``users``, ``sessions``) show it, re-key it, unlock, revoke and delete, with the
official ``stytch`` SDK on the other side. Bad input exits 2 with a message, never a traceback; no listing
holds a secret, code or token."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import secrets
import sqlite3
import stat
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyotp
import pytest
import stytch
from stytch.core.response_base import StytchError

from totpflow.server.crypto import resolve_master_key
from totpflow.server.storage import open_store
from totpflow.testing import free_port, run_server

pytestmark = pytest.mark.filterwarnings("ignore:BasicAuth is deprecated:DeprecationWarning")


@pytest.fixture
def store_env(database_url: str, tmp_path: Path) -> dict[str, str]:
    """The environment every command of a test runs with: the store, and its master key on PostgreSQL (a
    SQLite store keeps its key file beside the database)."""
    env = {"TOTPFLOW_DATABASE_URL": database_url, "TOTPFLOW_HOME": str(tmp_path / "home")}
    if database_url.startswith("postgresql"):
        env["TOTPFLOW_MASTER_KEY"] = base64.b64encode(secrets.token_bytes(32)).decode()
    return env


@pytest.fixture
def sqlite_env(tmp_path: Path) -> dict[str, str]:
    """A SQLite store only, for what does not depend on the backend (argument checks, rendering)."""
    return {
        "TOTPFLOW_DATABASE_URL": f"sqlite:///{tmp_path / 'one.db'}",
        "TOTPFLOW_HOME": str(tmp_path / "home"),
    }


def totpflow(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("TOTPFLOW_")}
    return subprocess.run(
        [sys.executable, "-m", "totpflow", *args],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def ok_json(env: dict[str, str], *args: str) -> Any:
    done = totpflow(env, *args)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def usage_error(env: dict[str, str], *args: str) -> str:
    """Run a command that must refuse its input: exit 2, a message, no traceback, nothing on stdout (but
    for ``enroll --json``, the refusal as its one JSON object)."""
    done = totpflow(env, *args)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    if args[0] == "enroll" and "--json" in args:  # enroll --json: the refusal is its one JSON object
        assert json.loads(done.stdout)["ok"] is False
    else:
        assert done.stdout == ""
    return done.stderr


def email() -> str:
    return f"op-{uuid.uuid4().hex[:12]}@example.com"


def enroll(env: dict[str, str], address: str, *extra: str) -> dict[str, Any]:
    result: dict[str, Any] = ok_json(env, "enroll", "--email", address, "--unattended", "--json", *extra)
    assert result["ok"] is True
    return result


@pytest.fixture
def served(store_env: dict[str, str], tmp_path: Path) -> Iterator[str]:
    """``totpflow serve`` on the test's store with no project variables (it serves what the store holds);
    yields its base URL."""
    plain = {**store_env, "TOTPFLOW_PROJECT_ID": "", "TOTPFLOW_PROJECT_SECRET": ""}
    with run_server(tmp_path, database_url=store_env["TOTPFLOW_DATABASE_URL"], env=plain) as server:
        yield server.base_url


def sdk(base_url: str, project_id: str, secret: str) -> stytch.Client:
    return stytch.Client(project_id=project_id, secret=secret, environment=base_url + "/")


def wrong_code(secret: str) -> str:
    totp = pyotp.TOTP(secret)
    valid = {totp.at(time.time() + 30 * k) for k in (-2, -1, 0, 1, 2)}
    return next(c for c in ("000000", "111111", "222222", "333333") if c not in valid)


def test_enroll_then_serve_then_the_sdk_with_the_operators_credentials(
    store_env: dict[str, str], tmp_path: Path
) -> None:
    address = email()
    enrolled = enroll(store_env, address)
    project_id = enrolled["projectId"]
    assert enrolled["projectSecret"].startswith("secret-")  # this run created the project: shown once
    assert len(enrolled["totpSecret"]) == 32  # unattended: the only way to produce another code

    # A second enrollment uses the same project and shows no secret.
    again = enroll(store_env, email())
    assert again["projectId"] == project_id and "projectSecret" not in again

    projects = ok_json(store_env, "project", "list", "--json")
    assert [(p["project_id"], p["users"]) for p in projects] == [(project_id, 2)]
    reset = ok_json(store_env, "project", "reset-secret", project_id, "--json")
    assert reset["project_id"] == project_id and reset["secret"] != enrolled["projectSecret"]

    plain = {**store_env, "TOTPFLOW_PROJECT_ID": "", "TOTPFLOW_PROJECT_SECRET": ""}
    with run_server(tmp_path, database_url=store_env["TOTPFLOW_DATABASE_URL"], env=plain) as server:
        log = (tmp_path / f"server-{server.base_url.rsplit(':', 1)[1]}.log").read_text()
        assert f"project {project_id}" in log and "created project" not in log
        client = sdk(server.base_url, project_id, reset["secret"])
        found = client.users.search(
            query={
                "operator": "AND",
                "operands": [{"filter_name": "email_address", "filter_value": [address]}],
            }
        )
        assert [u.user_id for u in found.results] == [enrolled["userId"]]
        session = client.sessions.authenticate(session_token=enrolled["sessionToken"])
        assert session.user.user_id == enrolled["userId"]
        # The secret enroll showed stopped working when the operator reset it.
        with pytest.raises(StytchError) as exc:
            sdk(server.base_url, project_id, enrolled["projectSecret"]).users.get(user_id=enrolled["userId"])
        assert exc.value.details.status_code == 401


def test_users_unlock_clears_a_lock_made_by_ten_wrong_codes(store_env: dict[str, str], served: str) -> None:
    enrolled = enroll(store_env, email())
    project_id, user_id, totp_secret = enrolled["projectId"], enrolled["userId"], enrolled["totpSecret"]
    secret = ok_json(store_env, "project", "reset-secret", project_id, "--json")["secret"]
    client = sdk(served, project_id, secret)
    wrong = wrong_code(totp_secret)
    for _ in range(10):  # the default lock threshold
        with pytest.raises(StytchError):
            client.totps.authenticate(user_id=user_id, totp_code=wrong)
    shown = ok_json(store_env, "users", "show", user_id, "--json")
    assert shown["locked"] is True and shown["lock_expires_at"] is not None
    right = pyotp.TOTP(totp_secret).at(time.time() + 30)  # the next step: enroll used the current one
    with pytest.raises(StytchError) as exc:
        client.totps.authenticate(user_id=user_id, totp_code=right)
    assert (exc.value.details.status_code, exc.value.details.error_type) == (429, "user_lock_limit_reached")

    unlocked = ok_json(store_env, "users", "unlock", user_id, "--json")
    assert unlocked["locked"] is False and unlocked["failed_attempts"] == 0
    assert client.totps.authenticate(user_id=user_id, totp_code=right).user_id == user_id
    assert client.users.get(user_id=user_id).is_locked is False


def test_show_revoke_and_delete(store_env: dict[str, str]) -> None:
    enrolled = enroll(store_env, email())
    user_id, session_token = enrolled["userId"], enrolled["sessionToken"]
    shown = ok_json(store_env, "users", "show", user_id, "--json")
    assert shown["totp"] == "verified" and shown["failed_attempts"] == 0 and shown["locked"] is False
    assert shown["active_sessions"] == 1
    session_id = shown["sessions"][0]["session_id"]

    human = totpflow(store_env, "users", "show", user_id)
    assert human.returncode == 0 and session_id in human.stdout and user_id in human.stdout
    for listing in (human.stdout, json.dumps(shown), totpflow(store_env, "users", "list").stdout):
        for secret in (
            session_token,
            enrolled["sessionJwt"],
            enrolled["totpSecret"],
            *enrolled["recoveryCodes"],
        ):
            assert secret not in listing

    assert ok_json(store_env, "sessions", "revoke", session_id, "--json")["revoked"] == [session_id]
    assert ok_json(store_env, "users", "show", user_id, "--json")["active_sessions"] == 0
    assert "no active session" in usage_error(store_env, "sessions", "revoke", session_id)

    second = enroll(store_env, email())  # a user with a session to revoke by user id
    revoked = ok_json(store_env, "sessions", "revoke", "--user", second["userId"], "--json")
    assert len(revoked["revoked"]) == 1
    assert ok_json(store_env, "sessions", "revoke", "--user", second["userId"], "--json")["revoked"] == []

    listed = ok_json(store_env, "users", "list", "--json")
    assert {u["user_id"] for u in listed} == {user_id, second["userId"]}
    by_email = ok_json(store_env, "users", "list", "--email", shown["emails"][0].upper(), "--json")
    assert [u["user_id"] for u in by_email] == [user_id]
    deleted = ok_json(store_env, "users", "delete", user_id, "--json")
    assert deleted == {"user_id": user_id, "project_id": enrolled["projectId"], "deleted": True}
    assert [u["user_id"] for u in ok_json(store_env, "users", "list", "--json")] == [second["userId"]]
    assert "no user" in usage_error(store_env, "users", "show", user_id)


def test_the_enroll_hint_for_a_confirmed_user_can_be_followed(store_env: dict[str, str]) -> None:
    address = email()
    first = enroll(store_env, address)
    refused = totpflow(store_env, "enroll", "--email", address, "--unattended", "--json")
    assert refused.returncode == 1
    hint = f"totpflow users delete {first['userId']}"
    assert hint in refused.stderr
    assert totpflow(store_env, *hint.split()[1:]).returncode == 0
    assert enroll(store_env, address)["userId"] != first["userId"]


def test_several_projects_must_be_named(store_env: dict[str, str]) -> None:
    first = enroll(store_env, email())["projectId"]
    other = ok_json(store_env, "project", "create", "--name", "shop", "--json")["project_id"]
    for command in (["users", "list"], ["enroll", "--email", email(), "--unattended"], ["keys", "rotate"]):
        message = usage_error(store_env, *command)
        assert first in message and other in message and "--project-id" in message
    assert ok_json(store_env, "users", "list", "--project-id", other, "--json") == []
    enrolled = enroll(store_env, email(), "--project-id", other)
    assert enrolled["projectId"] == other and "projectSecret" not in enrolled
    users = {p["project_id"]: p["users"] for p in ok_json(store_env, "project", "list", "--json")}
    assert users == {first: 1, other: 1}
    # An id names its project: the user is found without --project-id, and not in another project.
    assert ok_json(store_env, "users", "show", enrolled["userId"], "--json")["project_id"] == other
    assert "no user" in usage_error(store_env, "users", "show", enrolled["userId"], "--project-id", first)


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["users", "list"], "no project"),
        (["users", "list", "--project-id", "project-test-nope"], "no project"),
        (["users", "show", "user-test-nope"], "no user"),
        (["users", "show", "u" * 10_000], "… (10000 characters)"),  # not printed back whole
        (["users", "unlock", "not an id"], "no user"),
        (["users", "delete", ""], "no user"),
        (["sessions", "revoke", "session-test-nope"], "no active session"),
        (["sessions", "revoke", "--user", "user-test-nope"], "no user"),
        (["sessions", "revoke"], ""),
        (["project", "reset-secret", "project-test-nope"], "no project"),
        (["project", "reset-secret"], ""),
        (["users", "list", "--limit", "0"], "--limit"),
        (["users", "list", "--database-url", "mysql://x/y"], "database URL"),
        (
            ["enroll", "--email", "x@example.com", "--unattended", "--project-id", "project-test-nope"],
            "no project",
        ),
        # a mistyped path leaves no new store (and key file) behind
        (["users", "list", "--database-url", "sqlite:////nonexistent-folder/x.db"], "no database at"),
        (["rbac", "show", "--database-url", "sqlite:////nonexistent-folder/x.db"], "no database at"),
    ],
    ids=lambda v: " ".join(v)[:60] if isinstance(v, list) else None,
)
def test_bad_input_exits_2(sqlite_env: dict[str, str], args: list[str], fragment: str) -> None:
    resolve_master_key(sqlite_env["TOTPFLOW_DATABASE_URL"], {})  # the key file, then a store with no project
    open_store(sqlite_env["TOTPFLOW_DATABASE_URL"]).dispose()
    assert fragment in usage_error(sqlite_env, *args)
    assert not Path("/nonexistent-folder").exists()


@pytest.mark.parametrize(
    "command", [["users", "list"], ["keys", "rotate"], ["rbac", "show"], ["serve", "--port", "65534"]]
)
def test_a_store_keyed_elsewhere_is_refused_without_its_key(
    sqlite_env: dict[str, str], tmp_path: Path, command: list[str]
) -> None:
    """A store written under ``TOTPFLOW_MASTER_KEY``, opened without it: refused, and no new key file is left
    beside the database (a new key would decrypt none of its secrets)."""
    key = base64.b64encode(secrets.token_bytes(32)).decode()
    enroll({**sqlite_env, "TOTPFLOW_MASTER_KEY": key}, email())
    database = Path(sqlite_env["TOTPFLOW_DATABASE_URL"].removeprefix("sqlite:///"))
    assert "master key file beside it does not exist" in usage_error(sqlite_env, *command)
    assert not database.with_name(database.name + ".key").exists()
    assert ok_json({**sqlite_env, "TOTPFLOW_MASTER_KEY": key}, "users", "list", "--json")


# Settings of the server a store command does not use, each malformed.
SERVER_ONLY_SETTINGS = {
    "TOTPFLOW_RATE_LIMIT_USER": "lots",
    "TOTPFLOW_RATE_LIMIT_PROJECT": "10/fortnight",
    "TOTPFLOW_RATE_LIMIT_REDIS": "http://127.0.0.1:6379",
    "TOTPFLOW_LOCK_THRESHOLD": "0",
    "TOTPFLOW_ROTATE_KEYS_EVERY": "1s",
    "TOTPFLOW_LOG_FORMAT": "xml",
}
# The signing-key settings, malformed: only `keys rotate` (and `serve`) read them.
KEY_SETTINGS = {
    "TOTPFLOW_KEY_PUBLISH_FOR": "soon",
    "TOTPFLOW_KEY_RETENTION": "1m",
    "TOTPFLOW_RSA_KEY_SIZE": "7",
}


@pytest.mark.parametrize(("variable", "value"), [*SERVER_ONLY_SETTINGS.items(), *KEY_SETTINGS.items()])
def test_a_malformed_setting_a_store_command_does_not_use_does_not_stop_it(
    sqlite_env: dict[str, str], variable: str, value: str
) -> None:
    """An operator unlocking a user while the servers' configuration is broken: the store commands read the
    store's settings (and ``keys rotate`` the signing-key ones), never the others; ``serve`` refuses every
    malformed one."""
    enrolled = enroll(sqlite_env, email())
    user_id = enrolled["userId"]
    broken = {**sqlite_env, variable: value}
    assert ok_json(broken, "users", "unlock", user_id, "--json")["locked"] is False
    assert [u["user_id"] for u in ok_json(broken, "users", "list", "--json")] == [user_id]
    assert ok_json(broken, "users", "show", user_id, "--json")["active_sessions"] == 1
    assert len(ok_json(broken, "sessions", "revoke", "--user", user_id, "--json")["revoked"]) == 1
    assert [p["project_id"] for p in ok_json(broken, "project", "list", "--json")] == [enrolled["projectId"]]
    assert totpflow(broken, "rbac", "show").returncode == 0
    rotated = totpflow(broken, "keys", "rotate")
    if variable in KEY_SETTINGS:
        assert rotated.returncode == 2 and "Traceback" not in rotated.stderr, rotated.stderr
    else:
        assert rotated.returncode == 0, rotated.stderr
    served = totpflow(broken, "serve", "--port", str(free_port()))
    assert served.returncode == 2 and "Traceback" not in served.stderr, served.stderr


def test_tables_for_people(sqlite_env: dict[str, str]) -> None:
    enrolled = enroll(sqlite_env, email())
    projects = totpflow(sqlite_env, "project", "list")
    assert projects.returncode == 0 and enrolled["projectId"] in projects.stdout
    assert enrolled["projectSecret"] not in projects.stdout
    users = totpflow(sqlite_env, "users", "list")
    assert users.returncode == 0 and enrolled["userId"] in users.stdout
    reset = totpflow(sqlite_env, "project", "reset-secret", enrolled["projectId"])
    assert reset.returncode == 0 and "secret" in reset.stdout


# Runs a command in this interpreter, then names the web stack's packages it imported.
_IMPORTED_BY_A_COMMAND = """
import runpy, sys
sys.argv = ["totpflow", *sys.argv[1:]]
try:
    runpy.run_module("totpflow", run_name="__main__", alter_sys=True)
except SystemExit as exit:
    assert exit.code in (0, None), exit.code
web = {"starlette", "uvicorn", "prometheus_client", "totpflow.server.app", "totpflow.server.http"}
print(sorted(name for name in sys.modules if name in web or name.split(".")[0] in web))
"""


@pytest.mark.parametrize("command", [["users", "list", "--json"], ["project", "list", "--json"]])
def test_an_operators_command_leaves_the_web_stack_unloaded(
    sqlite_env: dict[str, str], command: list[str]
) -> None:
    """The operator's commands open the store as ``serve`` does (``totpflow.server.wiring``), without
    importing the ASGI app, its framework or the HTTP server."""
    enroll(sqlite_env, email())
    base = {k: v for k, v in os.environ.items() if not k.startswith("TOTPFLOW_")}
    done = subprocess.run(
        [sys.executable, "-c", _IMPORTED_BY_A_COMMAND, *command],
        env={**base, **sqlite_env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "[]"


def test_a_command_with_another_master_key_changes_nothing(store_env: dict[str, str], tmp_path: Path) -> None:
    """A mistyped key file, or another store's key: ``project reset-secret`` and ``project create`` are
    refused (exit 2) before they write, so the project's secret still works, and ``serve`` does not start."""
    created = ok_json(store_env, "project", "create", "--name", "shop", "--json")
    wrong = {k: v for k, v in store_env.items() if k != "TOTPFLOW_MASTER_KEY"}
    typo = tmp_path / "typo.key"
    wrong["TOTPFLOW_MASTER_KEY_FILE"] = str(typo)
    for command in (
        ["project", "reset-secret", created["project_id"], "--json"],
        ["project", "create", "--name", "other", "--json"],
        ["serve", "--port", str(free_port())],
    ):
        assert "master key" in usage_error(wrong, *command), command
    # The store is seen to be keyed before a key file is made, so no stray key is left behind.
    assert not typo.exists()
    listed = ok_json(store_env, "project", "list", "--json")
    assert [p["project_id"] for p in listed] == [created["project_id"]]
    with run_server(tmp_path, database_url=store_env["TOTPFLOW_DATABASE_URL"], env=store_env) as server:
        client = sdk(server.base_url, created["project_id"], created["secret"])
        assert client.users.search(limit=1).status_code == 200


def test_commands_that_only_read_refuse_another_stores_master_key(
    store_env: dict[str, str], tmp_path: Path
) -> None:
    """A key file that exists but holds another key (another store's, an old copy): the commands that only
    read are refused (exit 2) as the writing ones are, and with the right key they still read."""
    created = ok_json(store_env, "project", "create", "--name", "shop", "--json")
    other = tmp_path / "other.key"
    other.write_text(base64.b64encode(secrets.token_bytes(32)).decode())
    other.chmod(0o600)
    wrong = {k: v for k, v in store_env.items() if k != "TOTPFLOW_MASTER_KEY"}
    wrong["TOTPFLOW_MASTER_KEY_FILE"] = str(other)
    for command in (["users", "list", "--json"], ["project", "list", "--json"], ["rbac", "show"]):
        assert "not the one this store was written with" in usage_error(wrong, *command), command
    listed = ok_json(store_env, "project", "list", "--json")
    assert [p["project_id"] for p in listed] == [created["project_id"]]
    assert ok_json(store_env, "users", "list", "--json") == []


def test_a_mistyped_master_key_file_is_refused_before_it_is_made(
    store_env: dict[str, str], tmp_path: Path
) -> None:
    """A store made with one key file, then every kind of command given a path where no file is (a typo):
    refused with exit 2, naming that file and saying the store is already keyed, and no key file is made
    there (a new key would decrypt nothing the store holds, and stay behind for someone to point at later).
    The store is unchanged, and its own key file still opens it."""
    env = {k: v for k, v in store_env.items() if k != "TOTPFLOW_MASTER_KEY"}
    keys = tmp_path / "keys"
    keys.mkdir()
    real, typo = keys / "master.key", keys / "mastre.key"
    created = ok_json(env, "project", "create", "--name", "shop", "--json", "--master-key-file", str(real))
    assert stat.S_IMODE(real.stat().st_mode) == 0o600  # a new store's key file is made for it
    for command in (
        ["users", "list", "--json"],
        ["project", "list", "--json"],
        ["project", "create", "--name", "other", "--json"],
        ["keys", "rotate"],
        ["enroll", "--email", email(), "--unattended", "--json"],
        ["serve", "--port", str(free_port())],
    ):
        message = usage_error(env, *command, "--master-key-file", str(typo))
        assert f"master key file {typo} does not exist" in message and "already keyed" in message, command
        assert not typo.exists(), command
    message = usage_error({**env, "TOTPFLOW_MASTER_KEY_FILE": str(typo)}, "users", "list")
    assert str(typo) in message and "already keyed" in message and not typo.exists()
    listed = ok_json(env, "project", "list", "--json", "--master-key-file", str(real))
    assert [p["project_id"] for p in listed] == [created["project_id"]]
    assert ok_json(env, "users", "list", "--json", "--master-key-file", str(real)) == []


def test_no_master_key_file_is_made_for_a_database_that_cannot_be_asked(tmp_path: Path) -> None:
    """Whether a PostgreSQL database is keyed is asked before a key file is made for it: when it cannot be
    reached, the command says why (exit 2) and leaves no key file."""
    key_file = tmp_path / "master.key"
    env = {"TOTPFLOW_DATABASE_URL": "postgresql://postgres@127.0.0.1:1/none", "TOTPFLOW_HOME": str(tmp_path)}
    for command in (["users", "list"], ["serve", "--port", str(free_port())]):
        message = usage_error(env, *command, "--master-key-file", str(key_file))
        assert "PostgreSQL at 127.0.0.1:1/none" in message and "connection refused" in message, command
        assert not key_file.exists(), command


def test_a_table_shows_every_id_whole_and_no_control_character(sqlite_env: dict[str, str]) -> None:
    """Names a store holds from before they were checked at creation (up to 200 characters, none a control
    character): a long one must not cut the ids an operator copies, and an escape sequence or a newline must
    not reach the terminal (a fake row, a recoloured screen)."""
    names = ("n" * 5000, "evil\x1b[31mRED\nfake-row [bold]x[/bold]")
    made = [ok_json(sqlite_env, "project", "create", "--name", "x", "--json")["project_id"] for _ in names]
    database = sqlite_env["TOTPFLOW_DATABASE_URL"].removeprefix("sqlite:///")
    with contextlib.closing(sqlite3.connect(database)) as db:
        for project_id, name in zip(made, names, strict=True):
            db.execute("UPDATE projects SET name = ? WHERE project_id = ?", (name, project_id))
        db.commit()
    listed = totpflow(sqlite_env, "project", "list")
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert len(lines) == 3  # the header and one line per project
    for project_id in made:
        assert any(line.startswith(project_id + " ") for line in lines), listed.stdout
    assert "\x1b" not in listed.stdout and "\\x1b[31mRED\\nfake-row [bold]x[/bold]" in listed.stdout
    unchosen = totpflow(sqlite_env, "users", "list")  # two projects and none named: they are listed
    assert unchosen.returncode == 2 and "\x1b" not in unchosen.stderr
    assert "\\x1b[31mRED\\nfake-row" in unchosen.stderr
