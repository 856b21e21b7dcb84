"""``totpflow run --json-output`` when the run is refused before it starts (exit code 2): the report is still
written, with every error and its location, and no workflows."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from run_process import totpflow

DATA = Path(__file__).parents[1] / "engine" / "data"
INVALID = Path(__file__).parents[1] / "data" / "documents" / "invalid"


def test_an_invalid_document_writes_the_report_with_every_problem(tmp_path: Path) -> None:
    out = tmp_path / "run.json"
    done = totpflow(str(INVALID / "missing-targets.arazzo.yaml"), "--json-output", str(out))
    assert done.returncode == 2, done.stdout + done.stderr
    report = json.loads(out.read_text(encoding="utf-8"))
    assert (report["ok"], report["exitCode"], report["workflows"]) == (False, 2, [])
    locations = [error["location"] for error in report["errors"]]
    assert len(locations) == 5 and locations[0] == "/workflows/0/dependsOn/1"
    assert all(error["message"] for error in report["errors"])


def test_a_missing_input_writes_the_report_and_sends_nothing(
    pets_server: tuple[str, Any], tmp_path: Path
) -> None:
    url, api = pets_server
    out = tmp_path / "run.json"
    done = totpflow(
        str(DATA / "pets.arazzo.yaml"), "-w", "loginAndGetPet", "--input", "username=alice",
        "--server", f"pets={url}", "--no-prompt", "--json-output", str(out),
    )  # fmt: skip
    assert done.returncode == 2, done.stdout + done.stderr
    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["ok"] is False and report["workflows"] == []
    assert any("password" in error["message"] for error in report["errors"])
    assert api.seen == []


def test_a_document_that_never_ends_is_refused_at_its_size_limit(tmp_path: Path) -> None:
    """``/dev/zero`` as the document: read up to the limit, then refused (never read into all of memory)."""
    out = tmp_path / "run.json"
    done = totpflow("/dev/zero", "--json-output", str(out))
    assert done.returncode == 2, done.stdout + done.stderr
    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["ok"] is False and any("larger than" in error["message"] for error in report["errors"])


def test_a_source_with_no_server_is_refused_until_one_is_given(
    pets_server: tuple[str, Any], tmp_path: Path
) -> None:
    """A description without ``servers`` gets OpenAPI's default ``/``, relative to its own file: nothing can
    be sent there, so the run is refused (exit 2, naming the source and ``--server``) before it starts."""
    url, api = pets_server
    openapi = (DATA / "pets.openapi.yaml").read_text(encoding="utf-8")
    head, _, rest = openapi.partition("servers:")
    (tmp_path / "pets.openapi.yaml").write_text(head + rest.split("\n", 2)[2], encoding="utf-8")
    document = tmp_path / "pets.arazzo.yaml"
    document.write_text((DATA / "pets.arazzo.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    login = ["-w", "loginAndGetPet", "--input", "username=alice", "--input", "password=s3cr3t-pw"]
    refused = totpflow(str(document), *login)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "--server pets=URL" in refused.stderr and "Traceback" not in refused.stderr
    assert api.seen == []
    served = totpflow(str(document), *login, "--server", f"pets={url}")
    assert served.returncode == 0, served.stdout + served.stderr
