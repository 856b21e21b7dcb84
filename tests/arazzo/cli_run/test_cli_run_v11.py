"""``totpflow run`` of Arazzo 1.1 documents over real HTTP on loopback, in a subprocess: a document whose
``$self`` is a public URL runs offline with ``--map-self URL=DIR``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from run_process import totpflow

DATA = Path(__file__).parents[1] / "engine" / "data" / "v1.1"
SELF = "https://flows.invalid/pets/features.arazzo.yaml"


def _with_self(tmp_path: Path) -> str:
    text = (DATA / "features.arazzo.yaml").read_text(encoding="utf-8")
    document = tmp_path / "copy.arazzo.yaml"
    document.write_text(
        text.replace("arazzo: 1.1.0\n", f"arazzo: 1.1.0\n$self: {SELF}\n", 1), encoding="utf-8"
    )
    return str(document)


def test_a_document_whose_self_is_public_runs_offline_with_map_self(
    pets_server: tuple[str, Any], tmp_path: Path
) -> None:
    url, api = pets_server
    out = tmp_path / "run.json"
    done = totpflow(
        _with_self(tmp_path),
        "-w",
        "selfIdentity",
        "--map-self",
        f"https://flows.invalid/pets/={DATA}",
        "--server",
        f"pets={url}",
        "--json-output",
        str(out),
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(out.read_text())["workflows"][0]["outputs"] == {"definedBy": SELF}
    assert api.seen == ["GET /pets/1"]


def test_without_map_self_the_run_names_the_option(pets_server: tuple[str, Any], tmp_path: Path) -> None:
    url, api = pets_server
    done = totpflow(_with_self(tmp_path), "-w", "selfIdentity", "--server", f"pets={url}")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "/sourceDescriptions/0/url" in done.stderr and "--map-self" in done.stderr
    assert api.seen == []


def test_a_malformed_map_self_is_a_usage_error(tmp_path: Path) -> None:
    done = totpflow(_with_self(tmp_path), "--map-self", "not-a-mapping")
    assert done.returncode == 2
    assert "--map-self" in done.stderr and "Traceback" not in done.stderr
    inherited = totpflow(_with_self(tmp_path), env={"TOTPFLOW_MAP_SELF": "not-a-mapping"})
    assert inherited.returncode == 2  # never silently ignored
    assert "TOTPFLOW_MAP_SELF" in inherited.stderr and "Traceback" not in inherited.stderr


def test_querystring_and_action_parameters_run_over_loopback(pets_server: tuple[str, Any]) -> None:
    url, api = pets_server
    done = totpflow(
        str(DATA / "features.arazzo.yaml"), "-w", "searchByQuerystring", "--server", f"pets={url}"
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert api.seen == ["POST /login", "GET /pets?status=sold&note=a%20b"]


def test_requests_go_to_the_openapi_server_not_beside_self(
    pets_server: tuple[str, Any], tmp_path: Path
) -> None:
    """1.1.0 "Relative References in API URLs": the source resolves beside the document's public ``$self``
    (read from a mapped folder), but the request goes to the OpenAPI description's server, here the loopback
    server written into the copy, with no ``--server``."""
    url, api = pets_server
    folder = tmp_path / "mapped"
    folder.mkdir()
    openapi = (DATA / "pets32.openapi.yaml").read_text(encoding="utf-8")
    (folder / "pets32.openapi.yaml").write_text(openapi.replace("http://pets.test", url), encoding="utf-8")
    out = tmp_path / "run.json"
    done = totpflow(
        _with_self(tmp_path), "-w", "selfIdentity", "--map-self", f"https://flows.invalid/pets/={folder}",
        "--json-output", str(out),
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    step = json.loads(out.read_text())["workflows"][0]["steps"][0]
    assert step["exchanges"][0]["request"]["url"] == f"{url}/pets/1"
    assert api.seen == ["GET /pets/1"]


def test_inputs_referred_to_by_anchor_run_over_loopback(pets_server: tuple[str, Any], tmp_path: Path) -> None:
    """1.1.0 "Resolving URI Fragments": an ``inputs`` ``$ref`` by plain-name fragment (``#credentials``) names
    the component whose ``$anchor`` it is; its required names and formats apply before anything is sent."""
    url, api = pets_server
    document = tmp_path / "anchored.arazzo.yaml"
    document.write_text(
        "arazzo: 1.1.0\ninfo: {title: t, version: 1.0.0}\nsourceDescriptions:\n"
        f"- {{name: pets, url: '{(DATA / 'pets32.openapi.yaml').as_uri()}', type: openapi}}\n"
        "workflows:\n- workflowId: login\n  inputs: {$ref: '#credentials'}\n  steps:\n"
        "  - stepId: login\n    operationId: login\n"
        "    requestBody: {payload: {username: $inputs.username, password: $inputs.password}}\n"
        "    successCriteria: [{condition: $statusCode == 200}]\n"
        "components:\n  inputs:\n    credentials:\n      $anchor: credentials\n      type: object\n"
        "      required: [username, password]\n"
        "      properties: {username: {type: string}, password: {$ref: '#password'}}\n"
        "    password: {$anchor: password, type: string, format: password, minLength: 8}\n",
        encoding="utf-8",
    )
    refused = totpflow(str(document), "--server", f"pets={url}", "--input", "username=alice", "--no-prompt")
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "password" in refused.stderr and api.seen == []
    done = totpflow(
        str(document), "--server", f"pets={url}", "--input", "username=alice", "--input", "password=s3cr3t-pw"
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert api.seen == ["POST /login"]
    assert "s3cr3t-pw" not in done.stdout + done.stderr
