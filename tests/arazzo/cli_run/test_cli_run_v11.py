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


def test_querystring_and_action_parameters_run_over_loopback(pets_server: tuple[str, Any]) -> None:
    url, api = pets_server
    done = totpflow(
        str(DATA / "features.arazzo.yaml"), "-w", "searchByQuerystring", "--server", f"pets={url}"
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert api.seen == ["POST /login", "GET /pets?status=sold&note=a%20b"]
