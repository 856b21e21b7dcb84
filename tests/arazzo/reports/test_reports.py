"""The four reports of a hand-built run: JSON fields, JUnit structure (Jenkins junit-10.xsd rules), HAR 1.2
validity against tests/arazzo/data/har-1.2.schema.json, terminal text; and no secret in any of them."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest
from jsonschema import Draft202012Validator
from sample_run import SECRETS, SESSION_TOKEN, masker, sample_run

from totpflow.arazzo.masking import MASK
from totpflow.arazzo.reports.har import to_har, write_har
from totpflow.arazzo.reports.json_report import to_json, write_json
from totpflow.arazzo.reports.junit import junit_text, to_junit, write_junit
from totpflow.arazzo.reports.terminal import format_terminal, render_terminal
from totpflow.arazzo.results import Exchange

HAR_SCHEMA = json.loads(
    (Path(__file__).parents[1] / "data" / "har-1.2.schema.json").read_text(encoding="utf-8")
)
ANSI = re.compile(r"\x1b\[")

# -- JSON ----------------------------------------------------------------------------------------------------


def test_json_report_fields() -> None:
    report = to_json(sample_run(), masker=masker())
    assert list(report) == ["ok", "document", "startedAt", "elapsedMs", "warnings", "workflows"]
    assert report["ok"] is False and report["startedAt"] == "2026-11-26T14:00:00Z"
    seed, broken, skipped = report["workflows"]
    assert [seed["workflowId"], seed["ok"], seed["status"]] == ["totp-enrollment", True, "succeeded"]
    assert seed["outputs"] == {"userId": "user-1", "totpId": "totp-1", "sessionToken": MASK}
    assert seed["inputs"] == {"email": "a@example.com", "totp_code": MASK}
    step_keys = ["stepId", "ok", "attempts", "operation", "action", "error", "elapsedMs", "checks", "outputs"]
    step_keys += ["request", "response", "exchanges", "messages"]
    retry = seed["steps"][1]
    assert list(retry) == step_keys
    assert retry["attempts"] == 2 and len(retry["exchanges"]) == 2
    assert retry["response"]["statusCode"] == 200  # the last attempt
    assert retry["exchanges"][0]["response"]["statusCode"] == 503
    assert retry["request"]["method"] == "POST" and retry["request"]["body"] == {"user_id": "user-1"}
    assert retry["request"]["headers"]["Authorization"] == f"Basic {MASK}"
    assert retry["checks"] == [
        {"condition": "$statusCode == 200", "type": "simple", "passed": True, "message": None}
    ]
    failed = broken["steps"][0]
    assert failed["ok"] is False and failed["action"] == "fail" and failed["error"]
    assert failed["checks"][0] == {
        "condition": "$statusCode == 200",
        "type": "simple",
        "passed": False,
        "message": "left 404, right 200",
    }
    timed_out = broken["steps"][1]
    assert timed_out["response"] is None and timed_out["exchanges"][0]["error"] == "request timed out"
    assert skipped["status"] == "skipped" and skipped["steps"] == []


def test_json_report_file_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "out.json"
    write_json(sample_run(), path, masker=masker())
    assert json.loads(path.read_text(encoding="utf-8")) == to_json(sample_run(), masker=masker())


# -- JUnit ---------------------------------------------------------------------------------------------------

# The rules of the Jenkins xunit-plugin junit-10.xsd, the schema CI readers accept.
SUREFIRE_TIME = re.compile(r"^(([0-9]{0,3},)*[0-9]{3}|[0-9]{0,3})*(\.[0-9]*)?$")
SUITE_CHILDREN = {"testsuite", "properties", "testcase", "system-out", "system-err"}
CASE_CHILDREN = {"skipped", "error", "failure", "system-out", "system-err"}


def _check_junit_10(root: ElementTree.Element) -> None:
    assert root.tag == "testsuites"
    assert set(root.attrib) <= {"name", "time", "tests", "failures", "errors"}
    assert SUREFIRE_TIME.match(root.get("time", ""))
    for suite in root:
        assert suite.tag == "testsuite"
        assert {"name", "tests", "failures", "errors"} <= set(suite.attrib)
        assert set(suite.attrib) <= {
            "name", "tests", "failures", "errors", "group", "time", "skipped", "timestamp", "hostname",
            "id", "package", "file", "log", "url",
        }  # fmt: skip
        assert SUREFIRE_TIME.match(suite.get("time", ""))
        for child in suite:
            assert child.tag in SUITE_CHILDREN
            if child.tag == "properties":
                assert all(p.tag == "property" and set(p.attrib) == {"name", "value"} for p in child)
            if child.tag == "testcase":
                assert "name" in child.attrib
                assert set(child.attrib) <= {"name", "time", "classname", "group"}
                assert all(grandchild.tag in CASE_CHILDREN for grandchild in child)
                assert all(len(grandchild) == 0 for grandchild in child)  # text-only elements


def test_junit_structure() -> None:
    root = ElementTree.fromstring(junit_text(sample_run(), masker=masker(), hostname="ci-1").encode())
    _check_junit_10(root)
    assert root.attrib["tests"] == "6" and root.attrib["failures"] == "1" and root.attrib["errors"] == "1"
    seed, broken, skipped = root.findall("testsuite")
    assert seed.attrib["name"] == "totp-enrollment" and seed.attrib["hostname"] == "ci-1"
    assert seed.attrib["timestamp"] == "2026-11-26T14:00:00"
    cases = seed.findall("testcase")
    assert [(c.attrib["classname"], c.attrib["name"], c.attrib["time"]) for c in cases] == [
        ("totp-enrollment", "createUser", "0.013"),
        ("totp-enrollment", "createTotp", "0.035"),
        ("totp-enrollment", "authenticateTotp", "0.008"),
    ]
    assert seed.find("testcase/failure") is None
    retry_out = cases[1].findtext("system-out") or ""
    assert "attempt 1: POST http://127.0.0.1:8765/v1/totps" in retry_out and "< HTTP/1.1 503" in retry_out
    assert [child.tag for child in seed] == [
        "properties",
        "testcase",
        "testcase",
        "testcase",
        "system-out",
        "system-err",
    ]
    failure = broken.find("testcase[@name='getUser']/failure")
    assert failure is not None and failure.attrib["message"] == "1 of 2 success criteria failed"
    assert "$statusCode == 200 — left 404, right 200" in (failure.text or "")
    assert "response: 404 nf" in (failure.text or "").splitlines()  # what the API answered
    error = broken.find("testcase[@name='slow']/error")
    assert error is not None and "timed out" in error.attrib["message"]
    assert broken.attrib["failures"] == "1" and broken.attrib["errors"] == "1"
    assert skipped.attrib["skipped"] == "1"
    assert skipped.find("testcase/skipped") is not None


def test_junit_keeps_only_xml_characters(tmp_path: Path) -> None:
    from msgspec.structs import replace

    run = sample_run()
    step = replace(run.workflows[1].steps[0], error="bad \x00\x1b byte")
    run = replace(run, workflows=(replace(run.workflows[1], steps=(step,)),))
    path = tmp_path / "junit.xml"
    write_junit(run, path)
    root = ElementTree.parse(path).getroot()
    assert "bad  byte" in (root.findtext("testsuite/testcase/failure") or "")
    assert to_junit(run).tag == "testsuites"


# -- HAR -----------------------------------------------------------------------------------------------------


def test_har_is_valid_har_1_2(tmp_path: Path) -> None:
    path = tmp_path / "run.har"
    write_har(sample_run(), path, masker=masker())
    har = json.loads(path.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(HAR_SCHEMA)
    errors = [
        f"{list(e.absolute_path)}: {e.message}" for e in Draft202012Validator(HAR_SCHEMA).iter_errors(har)
    ]
    assert errors == []
    log = har["log"]
    assert log["creator"]["name"] == "totpflow"
    assert len(log["entries"]) == 6  # every attempt of every step
    first = log["entries"][0]
    assert first["request"]["postData"] == {
        "mimeType": "application/json",
        "text": '{"email": "a@example.com"}',
    }
    assert first["request"]["cookies"] == [
        {"name": "session", "value": MASK},
        {"name": "theme", "value": MASK},
    ]
    assert first["response"]["statusText"] == "OK"
    assert first["response"]["cookies"][0]["httpOnly"] is True
    assert first["time"] == first["timings"]["wait"]
    get_user = log["entries"][4]
    assert get_user["request"]["queryString"] == [{"name": "x", "value": "1"}, {"name": "y", "value": "a b"}]
    timed_out = log["entries"][5]
    assert timed_out["response"]["status"] == 0 and timed_out["response"]["_error"] == "request timed out"
    assert [e["_stepId"] for e in log["entries"]][:3] == ["createUser", "createTotp", "createTotp"]


def test_the_har_schema_rejects_what_the_spec_forbids() -> None:
    har = to_har(sample_run())
    validator = Draft202012Validator(HAR_SCHEMA)
    entry = har["log"]["entries"][0]
    broken_cases: list[tuple[str, Any]] = [
        ("time", -5),
        ("startedDateTime", "yesterday"),
        ("custom", 1),  # custom fields must start with "_"
    ]
    for key, value in broken_cases:
        bad = json.loads(json.dumps(har))
        bad["log"]["entries"][0][key] = value
        assert not validator.is_valid(bad), key
    bad = json.loads(json.dumps(har))
    bad["log"]["entries"][0]["request"]["postData"]["params"] = []
    assert not validator.is_valid(bad)  # text and params are mutually exclusive
    assert validator.is_valid(har) and "request" in entry


# -- terminal ------------------------------------------------------------------------------------------------


def test_terminal_plain_text() -> None:
    text = format_terminal(sample_run(), masker=masker())
    assert not ANSI.search(text)
    lines = text.splitlines()
    assert lines[0].startswith("warning: /workflows/0/steps/1")
    assert lines[1].startswith("totp-enrollment ✓ passed")
    assert "  ✓ createTotp  POST http://127.0.0.1:8765/v1/totps → 200  2 attempts  35 ms" in lines
    assert "      ✓ $statusCode == 200" in lines
    assert "      ✗ $statusCode == 200 — left 404, right 200" in lines
    assert any(line.startswith("  ✗ slow  DELETE") and "→ no response" in line for line in lines)
    assert "  outputs:" in lines and '    sessionToken: "********"' in lines
    assert "after-broken - skipped" in text
    assert lines[-1] == "Workflows: 1 passed, 1 failed, 1 skipped · Steps: 3 passed, 2 failed · Time: 30.10 s"


def test_terminal_verbose_shows_every_attempt() -> None:
    text = format_terminal(sample_run(), masker=masker(), verbose=True)
    assert "attempt 1: POST http://127.0.0.1:8765/v1/totps" in text and "< 503" in text
    assert f"> Authorization: Basic {MASK}" in text


FAILED_STEP_ANSWERS = [
    pytest.param(
        '{"status_code": 404, "error_type": "user_not_found", "error_message": "User could not be found.",'
        ' "error_url": "https://stytch.com/docs/api/errors/404"}',
        "404 user_not_found — User could not be found.",
        id="stytch-error",
    ),
    pytest.param(
        '{"type": "about:blank", "title": "Not Found", "detail": "no user user-1"}',
        "404 Not Found — no user user-1",
        id="rfc9457-problem",
    ),
    pytest.param('{"error": "no such pet"}', '404 {"error": "no such pet"}', id="other-json"),
    pytest.param(
        "<html>\n  <h1>Bad   Gateway</h1>\n</html>", "404 <html> <h1>Bad Gateway</h1> </html>", id="text"
    ),
    pytest.param("x" * 500, "404 " + "x" * 199 + "…", id="long-body"),
    pytest.param("", "404 (empty body)", id="empty"),
    pytest.param(
        f'{{"error_type": "unauthorized", "error_message": "bad secret {SECRETS[0]}"}}',
        f"404 unauthorized — bad secret {MASK}",
        id="masked",
    ),
    pytest.param(  # raw controls in a body that is not JSON: shown as escapes, never written to the terminal
        "RAWESC\x1b[2J\x1b]0;pwned\x07END \x9b31m \u202eevil \x01\x7f\x00",
        "404 RAWESC\\x1b[2J\\x1b]0;pwned\\x07END \\x9b31m \\u202eevil \\x01\\x7f\\x00",
        id="controls-in-text",
    ),
    pytest.param(  # JSON escapes that decode to controls, a bidi isolate and a lone surrogate
        '{"error_type": "bad\\u001b[31m", "error_message": "\\u001b]0;pwned\\u0007 \\u2066x\\u2069 \\ud800"}',
        "404 bad\\x1b[31m — \\x1b]0;pwned\\x07 \\u2066x\\u2069 \\ud800",
        id="controls-in-error-fields",
    ),
]


@pytest.mark.parametrize(("body", "shown"), FAILED_STEP_ANSWERS)
def test_a_failed_step_shows_the_api_answer_without_verbose(body: str, shown: str) -> None:
    from msgspec.structs import replace

    run = sample_run()
    broken = run.workflows[1]
    exchange = broken.steps[0].exchanges[0]
    response = replace(exchange.response, body=body)
    failed = replace(
        broken.steps[0], exchanges=(Exchange(exchange.request, response, exchange.started_at, 3),)
    )
    workflow = replace(broken, steps=(failed, *broken.steps[1:]))
    lines = format_terminal(replace(run, workflows=(workflow,)), masker=masker()).splitlines()
    at = lines.index("      ✗ $statusCode == 200 — left 404, right 200")
    assert lines[at + 2] == f"      response: {shown}"  # after the criteria, before the step's error
    assert lines[at + 3].startswith("      error: ")
    # a step that passed, and one without a response, show no answer line
    assert sum(line.startswith("      response: ") for line in lines) == 1


class Terminal(io.StringIO):
    """A text stream that says it is a terminal, as sys.stdout does on an interactive shell."""

    def isatty(self) -> bool:
        return True


def test_terminal_colour_only_on_a_terminal_without_no_color(monkeypatch: pytest.MonkeyPatch) -> None:
    assert ANSI.search(format_terminal(sample_run(), color=True))
    monkeypatch.delenv("NO_COLOR", raising=False)
    coloured = Terminal()
    render_terminal(sample_run(), file=coloured, width=200)
    assert ANSI.search(coloured.getvalue())
    monkeypatch.setenv("NO_COLOR", "1")
    plain = Terminal()
    render_terminal(sample_run(), file=plain, width=200)
    assert not ANSI.search(plain.getvalue())
    assert "Workflows: 1 passed" in plain.getvalue()
    not_a_terminal = io.StringIO()
    monkeypatch.delenv("NO_COLOR")
    render_terminal(sample_run(), file=not_a_terminal)
    assert not ANSI.search(not_a_terminal.getvalue())


def test_terminal_does_not_interpret_markup_in_values() -> None:
    from msgspec.structs import replace

    run = sample_run()
    workflow = replace(run.workflows[0], outputs={"x": "[bold red]not markup[/]"})
    text = format_terminal(replace(run, workflows=(workflow,)))
    assert '    x: "[bold red]not markup[/]"' in text.splitlines()


HOSTILE = "\x1b[2J\x1b]0;pwned\x07\x9b31m\u202e\x08\r\ud800"
HOSTILE_SHOWN = "\\x1b[2J\\x1b]0;pwned\\x07\\x9b31m\\u202e\\x08\\r\\ud800"
TERMINAL_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def _hostile_run() -> Any:
    """The sample run with control characters wherever a response or a document puts text: a header, a
    body, a check's condition and message, an output, a step's error."""
    from msgspec.structs import replace

    run = sample_run()
    broken = run.workflows[1]
    step = broken.steps[0]
    exchange = step.exchanges[0]
    response = replace(
        exchange.response,
        headers=(("X-Hostile", HOSTILE),),
        body=f'{{"error_message": "{HOSTILE[:-1]}"}}\n\tsecond line\r\nthird{HOSTILE}',
    )
    check = replace(step.checks[0], condition=f"$response.body == {HOSTILE}", message=HOSTILE)
    failed = replace(
        step,
        exchanges=(Exchange(exchange.request, response, exchange.started_at, 3),),
        checks=(check,),
        error=f"step failed: {HOSTILE}",
        outputs={"out": HOSTILE},
    )
    workflow = replace(broken, steps=(failed, *broken.steps[1:]), error=f"workflow: {HOSTILE}")
    passed = replace(run.workflows[0], outputs={"x": HOSTILE})
    return replace(run, workflows=(passed, workflow), warnings=(f"warning {HOSTILE}",))


@pytest.mark.parametrize("verbose", [False, True], ids=["plain", "verbose"])
@pytest.mark.parametrize("color", [False, True], ids=["no-colour", "colour"])
def test_terminal_writes_controls_from_responses_and_documents_as_escapes(color: bool, verbose: bool) -> None:
    text = format_terminal(_hostile_run(), color=color, verbose=verbose)
    if color:  # rich's own styles are the only escape sequences
        text = re.sub(r"\x1b\[[0-9;]*m", "", text)
    assert not TERMINAL_CONTROLS.search(text), repr(TERMINAL_CONTROLS.findall(text))
    assert f"warning {HOSTILE_SHOWN}" in text
    assert f" $response.body == {HOSTILE_SHOWN} — {HOSTILE_SHOWN}" in text
    assert f"error: step failed: {HOSTILE_SHOWN}" in text
    assert f"error: workflow: {HOSTILE_SHOWN}" in text
    assert "    x: " in text and "\\x9b31m\\u202e" in text  # json.dumps escapes C0 only
    if verbose:
        lines = text.splitlines()
        assert f"      < X-Hostile: {HOSTILE_SHOWN}" in lines
        assert "      <         second line" in lines  # the body's own lines, each behind its marker
        assert f"      < third{HOSTILE_SHOWN}" in lines


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("plain ascii", "plain ascii"),
        ("café ☕ 日本 \u00a0nbsp", "café ☕ 日本 \u00a0nbsp"),  # letters, emoji, no-break space: kept
        ("\x1b[2J\x07\x00\x7f\x85\x9b", "\\x1b[2J\\x07\\x00\\x7f\\x85\\x9b"),  # C0, DEL, C1
        ("a\nb\tc\rd", "a\\nb\\tc\\rd"),  # one line: line breaks and tabs are escaped too
        ("\u202eabc\u2066\u200b\ufeff", "\\u202eabc\\u2066\\u200b\\ufeff"),  # bidi, zero-width
        ("\u2028\u2029\ud800", "\\u2028\\u2029\\ud800"),  # separators, a lone surrogate
        ("C:\\path", "C:\\path"),  # a backslash is not doubled
    ],
)
def test_printable(text: str, shown: str) -> None:
    from totpflow.arazzo.printable import printable, printable_lines

    assert printable(text) == shown
    if "\n" not in text and "\t" not in text:
        assert printable_lines(f"{text}\r\n\tx") == [shown, "        x"]


def test_printable_lines_keep_a_body_s_layout() -> None:
    from totpflow.arazzo.printable import printable_lines

    body = '{\n\t"a": 1,\r\n\t"b": "x\ry\x1b"\n}'
    assert printable_lines(body) == ["{", '        "a": 1,', '        "b": "x\\ry\\x1b"', "}"]


# -- masking across every report -----------------------------------------------------------------------------


def test_no_secret_reaches_any_report(tmp_path: Path) -> None:
    run = sample_run()
    secret_masker = masker()
    outputs = {
        "json": json.dumps(to_json(run, masker=secret_masker)),
        "junit": junit_text(run, masker=secret_masker),
        "har": json.dumps(to_har(run, masker=secret_masker)),
        "terminal": format_terminal(run, masker=secret_masker, verbose=True),
    }
    write_json(run, tmp_path / "r.json", masker=secret_masker)
    write_junit(run, tmp_path / "r.xml", masker=secret_masker)
    write_har(run, tmp_path / "r.har", masker=secret_masker)
    for path in tmp_path.iterdir():
        outputs[path.name] = path.read_text(encoding="utf-8")
    for name, text in outputs.items():
        for secret in SECRETS:
            assert secret not in text, f"{name} leaks a secret"
        assert MASK in text, name
    # Without the masker the sample's raw records would show them: the test is not vacuous.
    assert SESSION_TOKEN in json.dumps(to_json(run))


@pytest.mark.parametrize(
    ("value", "text"),
    [(b"\x00ok\xff", "\x00ok\ufffd"), (bytearray(b"abc"), "abc"), (7.5, "7.5"), (object, str(object))],
)
def test_values_json_cannot_write_are_text_in_every_report(value: object, text: str) -> None:
    """A binary message payload in an output is text as its message record is (undecodable bytes U+FFFD),
    not a Python ``b'…'``."""
    from totpflow.arazzo.reports.jsonable import json_default

    assert json_default(value) == text
