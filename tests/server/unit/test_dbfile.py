"""``totpflow.server.dbfile``: the file a database URL names and the URL a command chooses; and how
``config.display_url`` prints a URL. Cases in ``tests/server/data/database_urls.yaml``."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest
import yaml

from totpflow.server import dbfile
from totpflow.server.config import display_url
from totpflow.server.dbfile import narrow_to_owner

CASES: dict[str, list[dict[str, Any]]] = yaml.safe_load(
    (Path(__file__).parents[1] / "data" / "database_urls.yaml").read_text(encoding="utf-8")
)


@pytest.mark.parametrize("case", CASES["sqlite_path"], ids=lambda case: case["url"])
def test_sqlite_path(case: dict[str, Any]) -> None:
    expected = None if case["expect"] is None else Path(case["expect"])
    assert dbfile.sqlite_path(case["url"]) == expected


@pytest.mark.parametrize("case", CASES["sqlite_path"], ids=lambda case: case["url"])
def test_sqlite_path_is_the_file_sqlalchemy_opens(case: dict[str, Any]) -> None:
    """The store's side files (key, writers' queue, permissions) are found beside the file SQLite opens."""
    from sqlalchemy.engine import make_url

    if case["expect"] is not None:
        assert str(dbfile.sqlite_path(case["url"])) == make_url(case["url"]).database


@pytest.mark.parametrize("name", ["plain", "a b", "h%41", "what?", "x#y", "50%"])
def test_the_url_of_a_file_names_that_file(name: str, tmp_path: Path) -> None:
    from sqlalchemy.engine import make_url

    path = tmp_path / name / "totpflow.db"
    url = dbfile.sqlite_url(path)
    assert dbfile.sqlite_path(url) == path
    assert make_url(url).database == str(path)


@pytest.mark.parametrize("case", CASES["chosen"], ids=lambda case: f"{case['flag']}-{case['env']}")
def test_chosen_database_url(case: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(dbfile.HOME_ENV, str(tmp_path))
    environ = {} if case["env"] is None else {dbfile.DATABASE_URL_ENV: case["env"]}
    expected = dbfile.sqlite_url(tmp_path / "totpflow.db") if case["expect"] == "default" else case["expect"]
    assert dbfile.chosen_database_url(case["flag"], environ) == expected


@pytest.mark.parametrize("case", CASES["display"], ids=lambda case: case["url"])
def test_display_url_masks_every_password(case: dict[str, Any]) -> None:
    assert display_url(case["url"]) == case["expect"]
    assert "hunter2" not in display_url(case["url"])


def test_a_regular_file_others_may_read_is_narrowed_to_its_owner(tmp_path: Path) -> None:
    path = tmp_path / "master.key"
    path.write_text("k")
    path.chmod(0o644)
    narrow_to_owner(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    narrow_to_owner(tmp_path / "missing")  # nothing to do, and no error


def test_a_folder_is_left_as_it_is(tmp_path: Path) -> None:
    folder = tmp_path / "keys"
    folder.mkdir(mode=0o755)
    folder.chmod(0o755)
    narrow_to_owner(folder)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o755


@pytest.mark.skipif(os.geteuid() != 0, reason="making a device node needs root")
def test_a_device_is_left_as_it_is(tmp_path: Path) -> None:
    """A key file named /dev/null or /dev/zero: narrowing it (as root) would close it to every other user."""
    device = tmp_path / "null"
    os.mknod(device, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    device.chmod(0o666)
    narrow_to_owner(device)
    assert stat.S_IMODE(device.stat().st_mode) == 0o666
