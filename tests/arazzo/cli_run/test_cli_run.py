"""``totpflow run`` as a user runs it: a subprocess against the Tinypets API on a loopback socket, checking
exit codes (0 succeeded, 1 a workflow failed, 2 invalid document / command line / inputs) and report files."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest
from run_process import totpflow

DATA = Path(__file__).parents[1] / "engine" / "data"
PETS = str(DATA / "pets.arazzo.yaml")
LOGIN = ["--input", "username=alice", "--input", "password=s3cr3t-pw"]


def test_success_exits_0_and_writes_every_report(pets_server: tuple[str, Any], tmp_path: Path) -> None:
    url, api = pets_server
    reports = {name: tmp_path / name for name in ("run.json", "junit.xml", "run.har")}
    done = totpflow(
        PETS, "-w", "loginAndGetPet", *LOGIN, "--server", f"pets={url}",
        "--json-output", str(reports["run.json"]), "--junit", str(reports["junit.xml"]),
        "--har", str(reports["run.har"]),
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert api.seen == ["POST /login", "GET /pets?status=available", "GET /pets/1"]
    report = json.loads(reports["run.json"].read_text())
    assert report["ok"] is True
    assert report["workflows"][0]["outputs"]["petName"] == "Rex"
    suite = ElementTree.parse(reports["junit.xml"]).getroot()
    assert suite.find(".//failure") is None
    assert len(suite.findall(".//testcase")) == 3
    har = json.loads(reports["run.har"].read_text())
    assert len(har["log"]["entries"]) == 3
    for path in reports.values():
        assert "s3cr3t-pw" not in path.read_text()
    assert "s3cr3t-pw" not in done.stdout + done.stderr
    assert "Traceback" not in done.stderr


def test_several_workflows_are_one_run_with_one_report(pets_server: tuple[str, Any], tmp_path: Path) -> None:
    """``-w`` repeated: each workflow runs in the order given, and the reports hold them all."""
    url, api = pets_server
    reports = {name: tmp_path / name for name in ("run.json", "junit.xml")}
    done = totpflow(
        PETS, "-w", "loginAndGetPet", "-w", "failLast", *LOGIN, "--server", f"pets={url}",
        "--json-output", str(reports["run.json"]), "--junit", str(reports["junit.xml"]),
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr  # failLast fails
    assert "Traceback" not in done.stderr and "internal error" not in done.stderr
    report = json.loads(reports["run.json"].read_text())
    assert report["ok"] is False
    assert [w["workflowId"] for w in report["workflows"]] == ["loginAndGetPet", "failLast"]
    assert [w["ok"] for w in report["workflows"]] == [True, False]
    suites = ElementTree.parse(reports["junit.xml"]).getroot()
    assert {suite.get("name") for suite in suites.iter("testsuite")} >= {"loginAndGetPet", "failLast"}
    assert api.seen[:3] == ["POST /login", "GET /pets?status=available", "GET /pets/1"]


def test_each_warning_is_shown_once_and_every_report_keeps_it(
    pets_server: tuple[str, Any], tmp_path: Path
) -> None:
    """A document's warnings are printed when it is loaded (a long run shows them at once), so the terminal
    report after the run leaves them out; the report files keep them."""
    url, _api = pets_server
    report = tmp_path / "run.json"
    done = totpflow(
        PETS, "-w", "loginAndGetPet", *LOGIN, "--server", f"pets={url}", "--json-output", str(report)
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    warnings = json.loads(report.read_text())["warnings"]
    assert warnings, "pets.arazzo.yaml has warnings (validate lists them)"
    for warning in warnings:
        assert (done.stdout + done.stderr).count(f"warning: {warning}") == 1, warning


def test_failing_workflow_exits_1(pets_server: tuple[str, Any], tmp_path: Path) -> None:
    url, _api = pets_server
    junit = tmp_path / "junit.xml"
    done = totpflow(PETS, "-w", "failLast", "--server", f"pets={url}", "--junit", str(junit))
    assert done.returncode == 1, done.stdout + done.stderr
    assert ElementTree.parse(junit).getroot().find(".//failure") is not None
    assert "Traceback" not in done.stderr


def test_a_handled_failure_is_no_junit_failure(pets_server: tuple[str, Any], tmp_path: Path) -> None:
    """retryFallsThrough: ``flaky`` fails, and its failure action goes on to ``recover``; the run passes
    (exit 0), so the JUnit report counts no failure, and the case's output says what failed and how it was
    handled."""
    url, _api = pets_server
    junit = tmp_path / "junit.xml"
    done = totpflow(PETS, "-w", "retryFallsThrough", "--server", f"pets={url}", "--junit", str(junit))
    assert done.returncode == 0, done.stdout + done.stderr
    root = ElementTree.parse(junit).getroot()
    assert (root.get("failures"), root.get("errors")) == ("0", "0")
    assert root.find(".//failure") is None and root.find(".//error") is None
    flaky = root.find(".//testcase[@name='flaky']")
    assert flaky is not None
    out = flaky.findtext("system-out") or ""
    assert "goto:recover" in out and "$statusCode == 200" in out


@pytest.mark.parametrize(
    ("workflow", "exit_code"), [("childFailureHandled", 0), ("childFailureUnhandled", 1)]
)
def test_a_called_workflows_failure_is_reported_once_at_the_calling_step(
    pets_server: tuple[str, Any], tmp_path: Path, workflow: str, exit_code: int
) -> None:
    """The called workflow's suite tells what failed without counting it; the calling step's case counts it
    unless its failure action handled it, so the JUnit report agrees with the exit code."""
    url, _api = pets_server
    junit, report = tmp_path / "junit.xml", tmp_path / "run.json"
    done = totpflow(PETS, "-w", workflow, "--server", f"pets={url}", "--junit", str(junit),
                    "--json-output", str(report))  # fmt: skip
    assert done.returncode == exit_code, done.stdout + done.stderr
    root = ElementTree.parse(junit).getroot()
    counted = int(root.get("failures") or 0) + int(root.get("errors") or 0)
    assert counted == exit_code
    child = root.find(".//testsuite[@name='failLast']")
    assert child is not None and child.find(".//failure") is None and child.find(".//error") is None
    missing = child.find("testcase[@name='missing']")
    assert missing is not None and f"reported at {workflow}/call" in (missing.findtext("system-out") or "")
    called = {w["workflowId"]: w["calledBy"] for w in json.loads(report.read_text())["workflows"]}
    assert called == {"failLast": f"{workflow}/call", workflow: None}


def test_timeout_exits_1_without_traceback(pets_server: tuple[str, Any], tmp_path: Path) -> None:
    url, _api = pets_server
    out = tmp_path / "run.json"
    done = totpflow(
        PETS, "-w", "timeout", "--server", f"pets={url}", "--timeout", "0.2", "--json-output", str(out)
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert "timed out" in json.loads(out.read_text())["workflows"][0]["error"]


def test_missing_input_exits_2_before_any_request(pets_server: tuple[str, Any]) -> None:
    url, api = pets_server
    done = totpflow(PETS, "-w", "loginAndGetPet", "--input", "username=alice", "--server", f"pets={url}")
    assert done.returncode == 2
    assert "password" in done.stderr
    assert api.seen == []


def test_invalid_command_lines_and_documents_exit_2(pets_server: tuple[str, Any], tmp_path: Path) -> None:
    url, api = pets_server
    broken = tmp_path / "broken.arazzo.yaml"
    broken.write_text("arazzo: 1.0.1\ninfo: {title: t, version: '1'}\nworkflows: []\n")
    cases = [
        [str(tmp_path / "missing.arazzo.yaml")],
        [str(broken)],
        [PETS, "-w", "noSuchWorkflow", "--server", f"pets={url}"],
        [PETS, "-w", "endEarly", "--server", "no-equals-sign"],
        [PETS, "-w", "endEarly", "--compute", "x=$nope.foo"],
        [PETS, "-w", "endEarly", "--compute", "x=totp($steps.s.outputs.secret"],
        [PETS, "--no-such-flag"],
        *(
            [PETS, "-w", "endEarly", "--server", f"pets={url}", "--timeout", t]
            for t in ("nan", "inf", "1e300")
        ),
        # a report that could not be written is found before anything is sent
        *(
            [PETS, "-w", "endEarly", "--server", f"pets={url}", flag, path]
            for flag in ("--json-output", "--junit", "--har", "--messages")
            for path in (str(tmp_path / "no-such-folder" / "r.out"), str(tmp_path))
        ),
    ]
    for args in cases:
        done = totpflow(*args)
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        assert "Traceback" not in done.stderr, args
    assert api.seen == []


def test_computed_totp_input(pets_server: tuple[str, Any]) -> None:
    url, api = pets_server
    done = totpflow(
        str(DATA / "totp.arazzo.yaml"), "--server", f"pets={url}",
        "--compute", "totp_code=totp($steps.createTotp.outputs.secret)",
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert api.seen == ["POST /totp", "POST /totp/verify"]


def test_help_shows_the_computed_input_syntax() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "totpflow", "run", "--help"], capture_output=True, text=True, check=True
    )
    assert "--compute 'totp_code=totp($steps.createTotp.outputs.secret)'" in done.stdout


def test_prompt_preamble_draws_the_qr_code_an_earlier_step_returned(capsys: Any) -> None:
    import base64
    import io

    import zxingcpp
    from PIL import Image

    from totpflow.arazzo import PromptRequest
    from totpflow.cli.run import _draw_qr_codes

    uri = "otpauth://totp/Tinypets:alice?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=Tinypets"
    image = zxingcpp.create_barcode(uri, zxingcpp.BarcodeFormat.QRCode).to_image(scale=4)
    png = io.BytesIO()
    Image.frombytes("L", (image.shape[1], image.shape[0]), memoryview(image).tobytes()).save(png, "PNG")
    data_uri = "data:image/png;base64, " + base64.b64encode(png.getvalue()).decode()
    for value in (uri, data_uri, f"scan {uri} now"):
        _draw_qr_codes(PromptRequest("totp_code", {}, (("createTotp", {"secret": "S", "qr": value}),)))
        drawn = capsys.readouterr().err
        assert "█" in drawn and len(drawn.splitlines()) > 10, value[:40]
    _draw_qr_codes(PromptRequest("totp_code", {}, (("createUser", {"userId": "user-1"}),)))
    assert capsys.readouterr().err == ""


def test_seed_workflow_against_a_real_server(totpflow_server: Any, tmp_path: Path) -> None:
    """The shipped TOTP enrollment, unattended: the first code is computed from the secret step 2 returned."""
    seed = Path(__file__).parents[3] / "arazzo" / "totp-enrollment.arazzo.yaml"
    report = tmp_path / "run.json"
    done = totpflow(
        str(seed), "--input", "email=ada@example.com", "--input", "session_duration_minutes=60",
        "--compute", "totp_code=totp($steps.createTotp.outputs.secret)",
        "--server", f"stytchConsumerApi={totpflow_server.base_url}",
        "--auth", f"stytchConsumerApi={totpflow_server.project_id}:{totpflow_server.secret}",
        "--secret-output", "sessionToken", "--json-output", str(report),
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    outputs = json.loads(report.read_text())["workflows"][0]["outputs"]
    assert outputs["userId"].startswith("user-test-")
    assert outputs["sessionToken"] == "********"
    for text in (done.stdout, done.stderr, report.read_text()):
        assert totpflow_server.secret not in text


def _pets_served_by(url: str, directory: Path) -> str:
    """A copy of the Tinypets document whose OpenAPI source names ``url`` as its own server."""
    openapi = (DATA / "pets.openapi.yaml").read_text().replace("http://pets.test", url)
    (directory / "pets.openapi.yaml").write_text(openapi)
    document = directory / "pets.arazzo.yaml"
    document.write_text((DATA / "pets.arazzo.yaml").read_text())
    return str(document)


UNUSABLE_OVERRIDES = [
    pytest.param(
        ["--server", "nosuchsource=http://127.0.0.1:9"], "'nosuchsource'", id="unknown-server-source"
    ),
    pytest.param(["--auth", "nosuch=user:pw"], "'nosuch'", id="unknown-auth-source"),
    pytest.param(["--auth", "nosuch.basicAuth=user:pw"], "'nosuch'", id="unknown-auth-source-with-scheme"),
    pytest.param(["--auth", "pets.noSuchScheme=tok"], "noSuchScheme", id="unknown-auth-scheme"),
    pytest.param(["--server", "pets=htp:/host"], "'htp'", id="unknown-scheme"),
    pytest.param(["--server", "pets=http:/host"], "no host", id="no-host"),
    pytest.param(["--server", "pets=127.0.0.1:8000"], "127.0.0.1:8000", id="no-scheme"),
    pytest.param(["--server", "pets=ftp://127.0.0.1/"], "'ftp'", id="ftp"),
    pytest.param(["--server", "pets=http://127.0.0.1:99999"], "not a valid URL", id="bad-port"),
    # credentials go in --auth, where they are masked; the refusal shows the URL without them
    pytest.param(["--server", "pets=http://user:pw-Zq9@127.0.0.1:9"], "no user or password", id="userinfo"),
    pytest.param(["--server", "pets=ftp://user:pw-Zq9@127.0.0.1/"], "'ftp://127.0.0.1/'", id="ftp-userinfo"),
]


@pytest.mark.parametrize(("args", "named"), UNUSABLE_OVERRIDES)
def test_a_server_or_credential_the_run_cannot_use_is_a_usage_error(
    pets_server: tuple[str, Any], tmp_path: Path, args: list[str], named: str
) -> None:
    """Exit 2 before any request, naming the culprit and the document's sources — never a run against the
    document's own server, or without the credentials asked for."""
    url, api = pets_server
    document = _pets_served_by(url, tmp_path)
    for dry_run in ([], ["--dry-run"]):
        done = totpflow(document, "-w", "loginAndGetPet", *LOGIN, *args, *dry_run)
        assert done.returncode == 2, done.stdout + done.stderr
        assert named in done.stderr
        assert "Traceback" not in done.stderr
        if "--auth" in args and "Scheme" not in named:
            assert "(sources: pets)" in done.stderr
        assert "pw" not in done.stderr.replace(named, "")  # a credential is never echoed
        assert "Zq9" not in done.stderr
    assert api.seen == []  # the document's own server received nothing


def test_the_document_server_is_used_when_no_override_is_given(
    pets_server: tuple[str, Any], tmp_path: Path
) -> None:
    url, api = pets_server
    done = totpflow(_pets_served_by(url, tmp_path), "-w", "loginAndGetPet", *LOGIN)
    assert done.returncode == 0, done.stdout + done.stderr
    assert api.seen[0] == "POST /login"


def test_a_failed_step_shows_the_api_answer(totpflow_server: Any) -> None:
    """Without -v, a failing step says what the server answered: status, error_type and error_message."""
    seed = Path(__file__).parents[3] / "arazzo" / "totp-enrollment.arazzo.yaml"
    done = totpflow(
        str(seed), "--input", "email=not-an-email", "--input", "totp_code=123456",
        "--server", f"stytchConsumerApi={totpflow_server.base_url}",
        "--auth", f"stytchConsumerApi={totpflow_server.project_id}:{totpflow_server.secret}",
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    failed = next(i for i, line in enumerate(lines) if line.startswith("  ✗ createUser"))
    answer = next(line for line in lines[failed:] if line.startswith("      response: "))
    assert re.fullmatch(r"      response: 400 invalid_email — \S.*", answer), answer
    assert totpflow_server.secret not in done.stdout + done.stderr


# Modules a plain-http run has no use for; each was once imported at start-up (the parser's other
# subcommands, the schema text through importlib.resources, getpass, the resolver's idna codec).
NOT_IMPORTED_BY_A_RUN = (
    "totpflow.cli.serve", "totpflow.cli.project", "totpflow.cli.upgrade", "ruamel", "httpx", "tempfile",
    "importlib.resources", "zipfile", "getpass", "encodings.idna", "stringprep",
)  # fmt: skip


def test_a_plain_http_run_imports_only_what_it_uses(pets_server: tuple[str, Any], tmp_path: Path) -> None:
    url, api = pets_server
    code = (
        "import sys\n"
        "from totpflow.cli import main\n"
        "rc = main(sys.argv[1:])\n"
        f"print('imported:', ','.join(m for m in {NOT_IMPORTED_BY_A_RUN!r} if m in sys.modules))\n"
        "sys.exit(rc)\n"
    )
    args = ["run", PETS, "-w", "loginAndGetPet", *LOGIN, "--server", f"pets={url}", "--no-prompt"]
    for _ in range(2):  # the first run validates the document (jsonschema); the second finds it valid
        done = subprocess.run(
            [sys.executable, "-c", code, *args],
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            timeout=120,
            env={"PATH": "/usr/bin:/bin", "NO_COLOR": "1", "TOTPFLOW_CACHE_DIR": str(tmp_path)},
        )
        assert done.returncode == 0, done.stdout + done.stderr
    assert api.seen[-3:] == ["POST /login", "GET /pets?status=available", "GET /pets/1"]
    assert done.stdout.splitlines()[-1] == "imported: "
