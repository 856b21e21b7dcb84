"""``totpflow run`` reads each document by the rules of the Arazzo minor version it declares: a 1.1.0 document
that uses only what 1.0 has runs exactly like its 1.0.1 original; a 1.1 feature in a 1.0 document refuses the
run (exit 2, with its location) before any request, pointing to ``totpflow upgrade``."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from run_process import totpflow

DATA = Path(__file__).parents[1] / "engine" / "data"
PETS = str(DATA / "pets.arazzo.yaml")
LOGIN = ["--input", "username=alice", "--input", "password=s3cr3t-pw"]


def _as_1_1(tmp_path: Path, extra: str = "") -> str:
    text = Path(PETS).read_text(encoding="utf-8")
    text = text.replace("arazzo: 1.0.1", "arazzo: 1.1.0", 1)
    text = text.replace("url: ./pets.openapi.yaml", f"url: {(DATA / 'pets.openapi.yaml').as_uri()}", 1)
    text = text.replace("  - stepId: list\n", "  - stepId: list\n" + extra, 1)
    path = tmp_path / "pets-1.1.arazzo.yaml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_a_1_1_document_runs_like_its_1_0_original(pets_server: tuple[str, Any], tmp_path: Path) -> None:
    url, api = pets_server
    results = []
    for document in (PETS, _as_1_1(tmp_path)):
        api.seen.clear()
        out = tmp_path / "run.json"
        done = totpflow(
            document, "-w", "loginAndGetPet", *LOGIN, "--server", f"pets={url}", "--json-output", str(out)
        )
        assert done.returncode == 0, done.stdout + done.stderr
        report = json.loads(out.read_text())
        results.append((list(api.seen), report["workflows"][0]["outputs"]))
    assert results[0] == results[1]
    assert results[0][0] == ["POST /login", "GET /pets?status=available", "GET /pets/1"]


def test_a_step_timeout_fails_the_step_over_real_http(pets_server: tuple[str, Any], tmp_path: Path) -> None:
    """An HTTP step's 1.1 ``timeout`` through the plain ``http.client`` sender: the loopback server answers
    /slow after 2 s, the step gives up at 300 ms and the run fails (exit 1) with the timeout, no traceback."""
    url, api = pets_server
    document = tmp_path / "timeout.arazzo.yaml"
    document.write_text(
        "arazzo: 1.1.0\ninfo: {title: t, version: 1.0.0}\nsourceDescriptions:\n"
        f"- {{name: pets, url: '{(DATA / 'pets.openapi.yaml').as_uri()}', type: openapi}}\n"
        "workflows:\n- workflowId: w\n  steps:\n  - {stepId: slow, operationId: slow, timeout: 300}\n",
        encoding="utf-8",
    )
    out = tmp_path / "run.json"
    begin = time.perf_counter()
    done = totpflow(str(document), "--server", f"pets={url}", "--json-output", str(out))
    assert time.perf_counter() - begin < 10
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    step = json.loads(out.read_text())["workflows"][0]["steps"][0]
    assert "timed out: no response within the step's timeout of 300 ms" in step["error"]
    (exchange,) = step["exchanges"]  # the request is recorded, with the timeout and no response
    assert exchange["request"]["url"] == f"{url}/slow"
    assert exchange.get("response") is None and "timed out" in exchange["error"]
    assert api.seen == ["GET /slow"]


def test_a_step_timeout_within_the_limit_runs_like_the_1_0_original(
    pets_server: tuple[str, Any], tmp_path: Path
) -> None:
    url, api = pets_server
    document = _as_1_1(tmp_path, extra="    timeout: 5000\n")
    done = totpflow(document, "-w", "loginAndGetPet", *LOGIN, "--server", f"pets={url}")
    assert done.returncode == 0, done.stdout + done.stderr
    assert api.seen == ["POST /login", "GET /pets?status=available", "GET /pets/1"]


def test_a_1_0_document_using_a_1_1_feature_points_to_upgrade(
    pets_server: tuple[str, Any], tmp_path: Path
) -> None:
    url, api = pets_server
    text = Path(_as_1_1(tmp_path, extra="    timeout: 500\n")).read_text(encoding="utf-8")
    path = tmp_path / "pets-1.0-with-timeout.arazzo.yaml"
    path.write_text(text.replace("arazzo: 1.1.0", "arazzo: 1.0.1", 1), encoding="utf-8")
    done = totpflow(str(path), "-w", "loginAndGetPet", *LOGIN, "--server", f"pets={url}")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "/workflows/0/steps/1/timeout" in done.stderr
    assert "totpflow upgrade" in done.stderr
    assert api.seen == []
