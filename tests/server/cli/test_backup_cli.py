"""``totpflow backup DEST`` as a subprocess: a consistent, owner-only copy of a SQLite store taken while a
server writes to it, which the operator commands and a server open with the same master key; bad input
exits 2 with a message and leaves no file."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
import stytch

from totpflow.server.dbfile import sqlite_url
from totpflow.testing import run_server

pytestmark = pytest.mark.filterwarnings("ignore:BasicAuth is deprecated:DeprecationWarning")


def totpflow(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("TOTPFLOW_")}
    return subprocess.run(
        [sys.executable, "-m", "totpflow", *args],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_backup_taken_while_a_server_writes_holds_every_user_it_counts(tmp_path: Path) -> None:
    key_file = tmp_path / "master.key"
    with run_server(tmp_path, env={"TOTPFLOW_MASTER_KEY_FILE": str(key_file)}) as server:
        client = stytch.Client(
            project_id=server.project_id, secret=server.secret, environment=server.base_url + "/"
        )
        stop = threading.Event()
        created: list[str] = []

        def write() -> None:  # users keep arriving while the copies are taken
            while not stop.is_set():
                created.append(client.users.create(email=f"u{len(created)}@example.com").user_id)

        writer = threading.Thread(target=write)
        writer.start()
        env = {"TOTPFLOW_DATABASE_URL": server.database_url}
        try:
            copies = []
            for n in range(3):
                done = totpflow(env, "backup", "--json", str(tmp_path / f"copy-{n}.db"))
                assert done.returncode == 0, done.stderr
                copies.append(json.loads(done.stdout))
        finally:
            stop.set()
            writer.join()
    assert created
    for copy in copies:
        path = Path(copy["backup"])
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert copy["projects"] == 1 and copy["schema"]
        listed = totpflow(
            {"TOTPFLOW_DATABASE_URL": sqlite_url(path)},
            "users",
            "list",
            "--json",
            "--master-key-file",
            str(key_file),
        )
        assert listed.returncode == 0, listed.stderr
        users = json.loads(listed.stdout)
        ids = [user["user_id"] for user in (users["users"] if isinstance(users, dict) else users)]
        assert len(ids) == copy["users"]
        assert set(ids) <= set(created)  # a snapshot: users of one moment, none half-written
    assert not list(tmp_path.glob(".copy-*"))  # no partial file left behind


def test_a_restored_backup_serves_its_users(tmp_path: Path) -> None:
    key_file = tmp_path / "master.key"
    env = {"TOTPFLOW_MASTER_KEY_FILE": str(key_file)}
    (tmp_path / "one").mkdir()
    with run_server(tmp_path / "one", env=env) as server:
        client = stytch.Client(
            project_id=server.project_id, secret=server.secret, environment=server.base_url + "/"
        )
        user_id = client.users.create(email="kept@example.com").user_id
        done = totpflow({"TOTPFLOW_DATABASE_URL": server.database_url}, "backup", str(tmp_path / "b.db"))
        assert done.returncode == 0, done.stderr
        assert "master key is not in the backup" in done.stdout
        project_id = server.project_id
    restored = tmp_path / "two"
    restored.mkdir()
    (tmp_path / "b.db").rename(restored / "totpflow.db")
    with run_server(restored, project_id=project_id, env=env) as again:
        client = stytch.Client(project_id=project_id, secret=again.secret, environment=again.base_url + "/")
        assert client.users.get(user_id=user_id).emails[0].email == "kept@example.com"


def _not_totpflow(path: Path) -> None:
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE t (x)")


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("postgresql", "pg_dump"),
        ("no-database", "no database"),
        ("not-a-totpflow-database", "not a totpflow database"),
        ("not-sqlite", "is not a totpflow database"),
        ("destination-exists", "never replaces"),
        ("destination-folder-missing", "no folder"),
        ("destination-is-a-folder", "is a folder"),
        ("destination-is-the-database", "the database itself"),
    ],
)
def test_bad_input_exits_2_and_leaves_no_file(tmp_path: Path, case: str, message: str) -> None:
    database = tmp_path / "store.db"
    destination = tmp_path / "copy.db"
    url = sqlite_url(database)
    setup: dict[str, Any] = {
        "postgresql": lambda: None,
        "no-database": lambda: None,
        "not-a-totpflow-database": lambda: _not_totpflow(database),
        "not-sqlite": lambda: database.write_text("not a database\n" * 100),
        "destination-exists": lambda: destination.write_text("keep me"),
        "destination-folder-missing": lambda: None,
        "destination-is-a-folder": lambda: destination.mkdir(),
        "destination-is-the-database": lambda: None,
    }
    setup[case]()
    if case in (
        "destination-exists",
        "destination-folder-missing",
        "destination-is-a-folder",
    ) or case.startswith("destination-is-the"):
        made = totpflow({"TOTPFLOW_DATABASE_URL": url, "TOTPFLOW_HOME": str(tmp_path)}, "project", "create")
        assert made.returncode == 0, made.stderr
    if case == "postgresql":
        url = "postgresql://postgres@127.0.0.1:1/none"
    if case == "destination-folder-missing":
        destination = tmp_path / "missing" / "copy.db"
    if case == "destination-is-the-database":
        destination = tmp_path / "." / "store.db"
    before = sorted(p.name for p in tmp_path.iterdir())
    done = totpflow(
        {"TOTPFLOW_DATABASE_URL": url, "TOTPFLOW_HOME": str(tmp_path)}, "backup", str(destination)
    )
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert message in done.stderr and "Traceback" not in done.stderr and done.stdout == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    if case == "destination-exists":
        assert destination.read_text() == "keep me"
