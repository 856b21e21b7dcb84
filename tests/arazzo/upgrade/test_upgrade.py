"""``totpflow upgrade``: every shipped workflow and every 1.0 test document becomes a valid 1.1.0 document
that runs with the same results; comments and order are kept; what cannot be converted is listed."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from totpflow.arazzo import RunOptions, load
from totpflow.arazzo.document.loader import document_from_data
from totpflow.arazzo.document.reader import absolute_url
from totpflow.arazzo.sources import SourceSet, check_sources
from totpflow.cli import main

ROOT = Path(__file__).resolve().parents[3]
TESTS = ROOT / "tests" / "arazzo"
ENGINE = TESTS / "engine" / "data"
DOCUMENTS = TESTS / "data" / "documents"
SHIPPED = sorted((ROOT / "arazzo").glob("*.arazzo.yaml"))
ONE_ZERO = [
    *SHIPPED,
    *sorted(ENGINE.glob("*.arazzo.yaml")),
    *(p for p in sorted((DOCUMENTS / "valid").glob("*.arazzo.*")) if "1.1" not in p.name),
    *(p for p in sorted((DOCUMENTS / "schema" / "pass").glob("*.yaml")) if "1.1" not in p.name),
]


def _upgrade(path: Path, out: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["upgrade", str(path), "-o", str(out)])
    return code, capsys.readouterr().err


@pytest.mark.parametrize("path", ONE_ZERO, ids=[f"{p.parent.name}/{p.name}" for p in ONE_ZERO])
def test_the_upgraded_document_is_valid_1_1(
    path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / path.name
    code, err = _upgrade(path, out, capsys)
    left = [line for line in err.splitlines() if line.startswith("not converted: ")]
    # valid for totpflow; what only the published schema refuses (values it widens) is listed, exit 1
    assert code == (1 if left else 0), err
    assert all(line.endswith("(the official 1.1 schema; totpflow accepts it)") for line in left), err
    data = yaml.safe_load(out.read_text(encoding="utf-8"))
    assert data["arazzo"] == "1.1.0"
    document = document_from_data(data, absolute_url(str(path)))  # sources resolve as for the original
    assert document.minor == "1.1"
    if all(not source.url.startswith("http") for source in document.source_descriptions):
        assert check_sources(document, SourceSet.load(document)).problems == []
    original = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert list(data) == list(original)  # top-level order kept


def _summary(result: Any, api: Any, sleeps: list[float]) -> Any:
    return (
        result.ok,
        [(w.workflow_id, w.status, w.outputs, [(s.step_id, s.attempts, s.action) for s in w.steps])
         for w in result.workflows],
        list(api.seen),
        list(sleeps),
    )  # fmt: skip


@pytest.mark.parametrize("name", ["pets.arazzo.yaml", "decisions.arazzo.yaml"])
def test_the_upgraded_engine_documents_run_with_the_same_results(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], pets_api: Any
) -> None:
    fresh_api = type(pets_api)  # the Tinypets API of conftest.py, one fresh state per run
    shutil.copy(ENGINE / "pets.openapi.yaml", tmp_path / "pets.openapi.yaml")
    code, err = _upgrade(ENGINE / name, tmp_path / name, capsys)
    assert code == 0, err
    cases = yaml.safe_load(
        (ENGINE / ("cases.yaml" if name == "pets.arazzo.yaml" else "decisions.yaml")).read_text()
    )
    before, after = load(str(ENGINE / name)), load(str(tmp_path / name))
    assert after.document.minor == "1.1"
    for case in cases:
        if "clock" in case:
            continue  # the Retry-After date cases depend on a fixed clock; the engine tests run them
        summaries = []
        for loaded in (before, after):
            api, sleeps = fresh_api(), []
            options = RunOptions(sleep=sleeps.append, timeout=5.0, **case.get("options", {}))
            with httpx.Client(transport=httpx.MockTransport(api.handler)) as client:
                result = loaded.run(
                    case["workflow"], inputs=case.get("inputs"), options=options, client=client
                )
            summaries.append(_summary(result, api, sleeps))
        assert summaries[0][0] is case["ok"], case["id"]
        assert summaries[0] == summaries[1], case["id"]


DATA = Path(__file__).parent / "data"


def test_comments_order_and_quoting_are_kept_and_only_what_1_1_needs_changes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "commented.arazzo.yaml"
    code, err = _upgrade(DATA / "commented.arazzo.yaml", out, capsys)
    assert code == 0, err
    assert out.read_text(encoding="utf-8") == (DATA / "commented.upgraded.yaml").read_text(encoding="utf-8")
    assert "changed /workflows/0/steps/0/outputs/token: '$response.body#/token'" in err
    # dot access into input `profile` takes the pointer form; the declared dotted input `profile.tag` stays
    assert (
        "changed /workflows/0/steps/1/parameters/2/value: '{$inputs.profile#/name}/{$inputs.profile.tag}'"
        in err
    )


def test_a_lone_value_condition_keeps_its_1_0_truthiness(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """1.1 passes a lone-value condition only when it is ``true``; ``!!`` keeps the 1.0 reading (any truthy
    value passes), and conditions that are comparisons or logical operators are left alone."""
    out = tmp_path / "decisions.arazzo.yaml"
    code, err = _upgrade(ENGINE / "decisions.arazzo.yaml", out, capsys)
    assert code == 0, err
    workflows = yaml.safe_load(out.read_text(encoding="utf-8"))["workflows"]
    lone = next(w for w in workflows if w["workflowId"] == "loneValueCriterion")
    assert lone["steps"][0]["successCriteria"] == [{"condition": "!!$response.body#/id"}]
    login = workflows[0]["steps"][0]["successCriteria"]
    assert login == [{"condition": "$statusCode == 200"}]


def test_what_cannot_be_converted_is_listed_with_its_location(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out.yaml"
    code, err = _upgrade(DOCUMENTS / "invalid" / "v1.0-uses-1.1-features.arazzo.yaml", out, capsys)
    assert code == 1
    assert "not converted: /workflows/0/steps/0/parameters/1/value: " in err
    assert yaml.safe_load(out.read_text(encoding="utf-8"))["arazzo"] == "1.1.0"  # written all the same


def test_a_1_1_document_is_refused_and_nothing_is_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out.yaml"
    code, err = _upgrade(DOCUMENTS / "valid" / "pets-1.1.arazzo.yaml", out, capsys)
    assert code == 2
    assert err.startswith("/arazzo: ")
    assert not out.exists()


def test_in_place(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "pets.arazzo.yaml"
    shutil.copy(ENGINE / "pets.arazzo.yaml", path)
    assert main(["upgrade", "--in-place", "-q", str(path)]) == 0
    assert path.read_text(encoding="utf-8").startswith("arazzo: 1.1.0\n")


@pytest.mark.parametrize("bom", [b"", b"\xef\xbb\xbf"], ids=["no-bom", "bom"])
@pytest.mark.parametrize("newline", [b"\n", b"\r\n"], ids=["lf", "crlf"])
def test_in_place_keeps_the_line_endings_and_byte_order_mark(
    tmp_path: Path, newline: bytes, bom: bytes
) -> None:
    """An edit in place changes only what the upgrade changes: a Windows file stays CRLF, a BOM stays."""
    original = (ENGINE / "pets.arazzo.yaml").read_bytes().replace(b"\r\n", b"\n")
    path = tmp_path / "pets.arazzo.yaml"
    path.write_bytes(bom + original.replace(b"\n", newline))
    assert main(["upgrade", "--in-place", "-q", str(path)]) == 0
    written = path.read_bytes()
    assert written.startswith(bom + b"arazzo: 1.1.0" + newline)
    body = written.removeprefix(bom)
    assert (b"\r\n" in body) == (newline == b"\r\n") and b"\r\r" not in body
    assert body.replace(b"\r\n", b"\n").count(b"\n") == body.count(b"\n")  # every line ends alike
    lf = tmp_path / "lf.arazzo.yaml"
    lf.write_bytes(original)
    assert main(["upgrade", "--in-place", "-q", str(lf)]) == 0
    assert body.replace(b"\r\n", b"\n") == lf.read_bytes()  # the same upgrade


def test_run_and_validate_never_import_the_round_trip_yaml_library() -> None:
    code = (
        "import sys\n"
        "from totpflow.cli import main\n"
        f"main(['run', {str(ENGINE / 'pets.arazzo.yaml')!r}, '-w', 'loginAndGetPet', '--dry-run',"
        " '--no-prompt',"
        " '--input', 'username=a', '--input', 'password=b'])\n"
        f"main(['validate', {str(DOCUMENTS / 'valid' / 'pets.arazzo.yaml')!r}])\n"
        "print('ruamel:' + ','.join(m for m in sys.modules if m.startswith('ruamel')), file=sys.stderr)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stderr.strip().splitlines()[-1] == "ruamel:", done.stderr


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "in.arazzo.yaml"
    path.write_text(text, encoding="utf-8")
    return path


PETS_SOURCE = f"[{{name: pets, url: '{(ENGINE / 'pets.openapi.yaml').as_uri()}', type: openapi}}]"


def test_dot_access_into_a_called_workflows_declared_output_takes_the_pointer_form(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """In a workflowId step, ``$outputs`` are the called workflow's: ``$outputs.nested.x.y`` reads into its
    declared output ``nested`` (it was listed as not converted)."""
    path = _write(
        tmp_path,
        "arazzo: 1.0.1\ninfo: {title: t, version: '1'}\n"
        f"sourceDescriptions: {PETS_SOURCE}\n"
        "workflows:\n"
        "- workflowId: child\n"
        "  steps: [{stepId: j, operationId: getPet, outputs: {nested: $response.body}}]\n"
        "  outputs: {nested: $steps.j.outputs.nested, label: $steps.j.outputs.nested}\n"
        "- workflowId: parent\n"
        "  steps:\n"
        "  - stepId: call\n"
        "    workflowId: child\n"
        "    successCriteria: [{condition: $outputs.nested.x.y == 3}]\n"
        "    outputs: {y: $outputs.nested.x.y}\n"
        "  outputs: {y: $steps.call.outputs.y}\n",
    )
    out = tmp_path / "out.yaml"
    code, err = _upgrade(path, out, capsys)
    assert code == 0, err
    call = yaml.safe_load(out.read_text(encoding="utf-8"))["workflows"][1]["steps"][0]
    assert call["outputs"] == {"y": "$outputs.nested#/x/y"}
    assert call["successCriteria"] == [{"condition": "$outputs.nested#/x/y == 3"}]


def test_what_only_the_official_1_1_schema_refuses_is_listed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A parameter value that is an object: 1.0 allows it and so does totpflow in 1.1 (OAI #559), but the
    1.1 schema as published does not, and other tools check with it."""
    path = _write(
        tmp_path,
        "arazzo: 1.0.1\ninfo: {title: t, version: '1'}\n"
        f"sourceDescriptions: {PETS_SOURCE}\n"
        "workflows:\n- workflowId: w\n  steps:\n  - stepId: s\n    operationId: listPets\n"
        "    parameters: [{name: X-Filter, in: header, value: {kind: dog}}]\n",
    )
    code, err = _upgrade(path, tmp_path / "out.yaml", capsys)
    assert code == 1
    # one line for the one value, whatever number of reasons the schema gives
    assert err.count("not converted: /workflows/0/steps/0/parameters/0/value: ") == 1, err
    assert "official 1.1 schema" in err and "1 thing left to fix by hand" in err


def test_a_flow_style_yaml_document_stays_yaml_with_its_comments(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(
        tmp_path,
        '{"arazzo": "1.0.1", "info": {"title": "t", "version": "1"}, "sourceDescriptions": '
        f'{PETS_SOURCE}, "workflows": [{{"workflowId": "w", "steps": [{{"stepId": "s", '
        '"operationId": "listPets"}]}]}  # kept\n',
    )
    out = tmp_path / "out.yaml"
    code, err = _upgrade(path, out, capsys)
    assert code == 0, err
    text = out.read_text(encoding="utf-8")
    assert text.rstrip().endswith("# kept")
    assert yaml.safe_load(text)["arazzo"] == "1.1.0"


_HEAD = (
    "arazzo: 1.0.1\ninfo: {title: t, version: '1'}\n"
    "sourceDescriptions:\n- {name: api, url: ./api.yaml, type: openapi}\n"
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("arazzo: 1.0.1\ninfo: {title: t\n  version: x\n", "line 3, column 10: invalid YAML: "),
        ("- arazzo: 1.0.1\n", "an Arazzo document is a mapping, not a list"),
        # not the 1.0 schema's shape: every problem where it is written (the rewrite raised a TypeError)
        (
            _HEAD + "workflows:\n- workflowId: w\n  steps:\n  - {stepId: s, operationId: x, outputs: 5}\n",
            "/workflows/0/steps/0/outputs: 5 is not of type 'object'",
        ),
        (_HEAD + "workflows: 5\n", "/workflows: 5 is not of type 'array'"),
        (
            _HEAD.replace(
                "sourceDescriptions:\n- {name: api, url: ./api.yaml, type: openapi}\n",
                "sourceDescriptions: 7\n",
            )
            + "workflows: []\n",
            "/sourceDescriptions: 7 is not of type",
        ),
        (
            _HEAD + "workflows:\n- {workflowId: w, inputs: 5, steps: [{stepId: s, operationId: x}]}\n",
            "/workflows/0/inputs: 5 is not of type",
        ),
    ],
    ids=["broken-yaml", "a-list", "step-outputs", "workflows", "source-descriptions", "workflow-inputs"],
)
def test_a_document_that_cannot_be_read_is_refused_with_where_and_why(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, expected: str
) -> None:
    out = tmp_path / "out.yaml"
    code, err = _upgrade(_write(tmp_path, text), out, capsys)
    assert code == 2
    assert expected in err
    assert "Traceback" not in err and "unicode string" not in err
    assert not out.exists()


DEPENDENCY_CASES = yaml.safe_load((DATA / "dependencies.yaml").read_text(encoding="utf-8"))


def test_a_steps_reference_a_run_may_reach_unmet_is_listed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """1.1 makes a step depend on every step whose outputs it reads; where a run may reach it before that step
    completed (a goto passed over it, or it failed and a failure action went on), the reference is listed
    (exit 1); a step reading earlier steps that can be passed only by completing them is not."""
    shutil.copy(ENGINE / "pets.openapi.yaml", tmp_path / "pets.openapi.yaml")
    code, err = _upgrade(DATA / "dependencies.arazzo.yaml", tmp_path / "dependencies.arazzo.yaml", capsys)
    listed = [line for line in err.splitlines() if line.startswith("not converted: ")]
    expected = [location for case in DEPENDENCY_CASES for location in case["listed"]]
    assert [line.split(": ")[1] for line in listed] == expected, err
    assert code == 1
    assert "step 'b' reads $steps.a, and step 'a' can fail and the run go on to step 'b'" in listed[0]
    assert "an action can pass over step 'search' before step 'show' starts" in listed[1]
    assert all("fails before sending" in line for line in listed)


@pytest.mark.parametrize("case", DEPENDENCY_CASES, ids=[case["id"] for case in DEPENDENCY_CASES])
def test_the_upgraded_document_decides_alike_unless_a_reference_is_listed(
    case: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str], pets_api: Any
) -> None:
    fresh_api = type(pets_api)
    shutil.copy(ENGINE / "pets.openapi.yaml", tmp_path / "pets.openapi.yaml")
    shutil.copy(DATA / "dependencies.arazzo.yaml", tmp_path / "original.arazzo.yaml")
    _, err = _upgrade(tmp_path / "original.arazzo.yaml", tmp_path / "upgraded.arazzo.yaml", capsys)
    before, after = load(str(tmp_path / "original.arazzo.yaml")), load(str(tmp_path / "upgraded.arazzo.yaml"))
    assert after.document.minor == "1.1"
    at = next(w.location for w in before.document.workflows if w.workflow_id == case["workflow"]) + "/"
    listed = [line.split(": ")[1] for line in err.splitlines() if line.startswith(f"not converted: {at}")]
    assert listed == case["listed"], err
    for run in case["runs"]:
        summaries, errors = [], []
        for loaded in (before, after):
            api, sleeps = fresh_api(), []
            with httpx.Client(transport=httpx.MockTransport(api.handler)) as client:
                result = loaded.run(
                    case["workflow"],
                    inputs=run.get("inputs"),
                    options=RunOptions(sleep=sleeps.append, timeout=5.0),
                    client=client,
                )
            summaries.append(_summary(result, api, sleeps))
            errors.append(" ".join(str(s.error) for w in result.workflows for s in w.steps))
        assert summaries[0][0] is run["ok"], run
        if not listed or run.get("alike"):
            assert summaries[0] == summaries[1], run
        else:  # what the listing warns of: the reading step fails before it sends
            assert summaries[1][0] is False, run
            assert "which has not completed in this run" in errors[1], run
