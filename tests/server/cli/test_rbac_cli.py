"""``totpflow rbac set|show`` as subprocesses: a valid YAML or JSON policy replaces the project's, an invalid
one is refused with exit code 2, every problem and its location, and nothing changed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

DATA = Path(__file__).parents[1] / "data" / "rbac"


def totpflow(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("TOTPFLOW_")}
    return subprocess.run(
        [sys.executable, "-m", "totpflow", *args],
        env={**base, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def database(tmp_path: Path) -> tuple[str, str]:
    url = f"sqlite:///{tmp_path / 'rbac.db'}"
    created = totpflow("project", "create", "--database-url", url)
    assert created.returncode == 0, created.stderr
    return url, json.loads(created.stdout)["project_id"]


def shown(url: str, *extra: str) -> dict[str, object]:
    result = totpflow("rbac", "show", "--database-url", url, *extra)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def test_show_default_policy(database: tuple[str, str]) -> None:
    url, project_id = database
    out = shown(url)
    assert out["project_id"] == project_id
    assert out["policy"] == {
        "roles": [
            {
                "role_id": "stytch_user",
                "description": "The role every user of the project holds.",
                "permissions": [],
            }
        ],
        "resources": [],
        "scopes": [],
    }


def test_set_yaml_then_json(database: tuple[str, str], tmp_path: Path) -> None:
    url, project_id = database
    result = totpflow("rbac", "set", str(DATA / "policy.yaml"), "--database-url", url)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == shown(url, "--project-id", project_id)
    roles = [r["role_id"] for r in shown(url)["policy"]["roles"]]  # type: ignore[index]
    assert roles == ["stytch_user", "editor", "admin", "auditor"]

    as_json = tmp_path / "changed.json"
    as_json.write_text(json.dumps(yaml.safe_load((DATA / "policy_changed.yaml").read_text())))
    result = totpflow("rbac", "set", str(as_json), "--database-url", url)
    assert result.returncode == 0, result.stderr
    policy = shown(url)["policy"]
    assert [r["role_id"] for r in policy["roles"]] == ["stytch_user", "editor", "auditor"]  # type: ignore[index]
    assert policy["scopes"] == []  # type: ignore[index]


@pytest.mark.parametrize(
    ("name", "content", "fragments"),
    [
        ("reserved.yaml", "resources:\n  - {resource_id: stytch.member, actions: [read]}\n",
         ["resources[0].resource_id", "may not start with 'stytch'"]),
        ("several.yaml", "resources:\n  - {resource_id: docs, actions: ['*']}\nroles:\n  - {role_id: r, "
         "permissions: [{resource_id: nope, actions: [read]}]}\n",
         ["resources[0].actions[0]", "roles[0].permissions[0].resource_id", "no resource 'nope'"]),
        ("broken.yaml", "roles: [\n  - {role_id: r\n", ["broken.yaml:", "not valid YAML"]),
        ("broken.json", '{"roles": [}', ["broken.json:1:", "not valid JSON"]),
        ("control.yaml", 'roles:\n  - {role_id: "ad\\e[2Jmin"}\n  - {role_id: "ad\\0min"}\n',
         ["roles[0].role_id: must not contain a control character", "roles[1].role_id"]),
        ("scalar.yaml", "just text\n", ["policy: must be a mapping"]),
        ("empty.yaml", "", ["policy: must be a mapping"]),
        ("deep.json", "[" * 100_000 + "]" * 100_000, ["deep.json: not a policy", "nested too deeply"]),
        ("deep.yaml", "a: " + "[" * 5000 + "]" * 5000, ["deep.yaml: not a policy"]),
        ("huge.yaml", "x" * ((1 << 20) + 1), ["huge.yaml: larger than 1024 KiB"]),
        ("twice.yaml", "resources: [{resource_id: docs, actions: [read]}]\nroles:\n  - {role_id: editor}\n"
         "roles:\n  - {role_id: auditor}\n", ["twice.yaml:4:1:", "'roles' appears twice"]),
        ("nested.yaml",
         "resources:\n  - resource_id: docs\n    actions: [read, write]\n    actions: [read]\n",
         ["nested.yaml:4:5:", "'actions' appears twice"]),
        ("twice.json", '{"roles": [{"role_id": "editor"}], "roles": []}',
         ["twice.json:", "'roles' appears twice"]),
    ],
    ids=["reserved-prefix", "several-problems", "bad-yaml", "bad-json", "control-characters", "scalar",
         "empty", "deep-json", "deep-yaml", "larger-than-a-policy", "key-twice-yaml", "key-twice-nested",
         "key-twice-json"],
)  # fmt: skip
def test_invalid_files_exit_2_and_change_nothing(
    database: tuple[str, str], tmp_path: Path, name: str, content: str, fragments: list[str]
) -> None:
    url, _ = database
    assert totpflow("rbac", "set", str(DATA / "policy.yaml"), "--database-url", url).returncode == 0
    before = shown(url)
    path = tmp_path / name
    path.write_text(content)
    result = totpflow("rbac", "set", str(path), "--database-url", url)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in result.stderr
    assert result.stdout == ""
    assert shown(url) == before


def test_missing_file_and_unknown_project_exit_2(database: tuple[str, str], tmp_path: Path) -> None:
    url, _ = database
    missing = totpflow("rbac", "set", str(tmp_path / "nope.yaml"), "--database-url", url)
    assert missing.returncode == 2 and "cannot read" in missing.stderr
    unknown = totpflow("rbac", "show", "--database-url", url, "--project-id", "project-test-nobody")
    assert unknown.returncode == 2 and "no project 'project-test-nobody'" in unknown.stderr
    usage = totpflow("rbac")
    assert usage.returncode == 2 and "Traceback" not in usage.stderr


def test_the_master_key_file_flag_serves_a_store_kept_apart_from_its_key(tmp_path: Path) -> None:
    """As every store command: the key file given, not one made beside the database."""
    url = f"sqlite:///{tmp_path / 'apart.db'}"
    key = tmp_path / "keys" / "master.key"
    key.parent.mkdir()
    created = totpflow("project", "create", "--database-url", url, "--master-key-file", str(key))
    assert created.returncode == 0, created.stderr
    for action in (["show"], ["set", str(DATA / "policy.yaml")]):
        done = totpflow("rbac", *action, "--database-url", url, "--master-key-file", str(key))
        assert done.returncode == 0, done.stderr
    assert not (tmp_path / "apart.db.key").exists()
