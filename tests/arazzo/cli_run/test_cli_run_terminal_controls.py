"""Control characters in what an API answers or a document says reach the terminal as escapes, never raw:
``totpflow run`` (a failed step's answer, a check quoting a value, ``-v``'s headers, bodies and outputs) and
``totpflow validate`` (a problem quoting the document). A real server on loopback, the CLI in a subprocess;
the answers and what must be shown of each are in data/terminal/answers.json."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import loopback
import pytest

DATA = Path(__file__).parent / "data" / "terminal"
CASES: list[dict[str, Any]] = json.loads((DATA / "answers.json").read_text(encoding="utf-8"))["cases"]
ANSWERS = {case["id"]: case for case in CASES}

# What a terminal acts on rather than shows: C0 but the line feed, DEL, C1, bidi overrides and isolates, lone
# surrogates (the output is decoded with surrogateescape, so a byte that is not UTF-8 shows up here too)
TERMINAL_CONTROLS = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


class _Answers(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        case = ANSWERS[self.path.rsplit("/", 1)[-1]]
        body = case["body"].encode("utf-8")
        self.send_response(case["status"])
        self.send_header("Content-Type", case["contentType"])
        for name, value in case["headers"].items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def _outputs(done: subprocess.CompletedProcess[bytes]) -> tuple[str, str]:
    return done.stdout.decode("utf-8", "surrogateescape"), done.stderr.decode("utf-8", "surrogateescape")


def _run(*args: str) -> subprocess.CompletedProcess[bytes]:
    """``totpflow`` with bytes out, so that nothing a decoder would replace goes unseen; a minimal
    environment (no colour), but the ``PYTHONPATH`` the tests run with."""
    path = {"PYTHONPATH": os.environ["PYTHONPATH"]} if "PYTHONPATH" in os.environ else {}
    return subprocess.run(
        [sys.executable, "-m", "totpflow", *args],
        capture_output=True,
        stdin=subprocess.DEVNULL,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "NO_COLOR": "1", **path},
    )


@pytest.mark.parametrize("verbose", [False, True], ids=["plain", "verbose"])
@pytest.mark.parametrize("case", CASES, ids=[case["id"] for case in CASES])
def test_a_failed_step_shows_the_answer_s_controls_as_escapes(case: dict[str, Any], verbose: bool) -> None:
    with loopback.serve(_Answers) as url:
        done = _run(
            "run", str(DATA / "answers.arazzo.yaml"), "--server", f"answers={url}",
            "--input", f"case={case['id']}", *(["-v"] if verbose else []),
        )  # fmt: skip
    stdout, stderr = _outputs(done)
    assert done.returncode == 1, stdout + stderr
    for name, text in (("stdout", stdout), ("stderr", stderr)):
        found = TERMINAL_CONTROLS.findall(text)
        assert not found, f"{name} holds {found!r}:\n{text}"
    for shown in case["shown"] + (case["verbose"] if verbose else []):
        assert shown in stdout, f"{shown!r} not in:\n{stdout}"


@pytest.mark.parametrize("case", ["text", "stytch-error"])
def test_the_reports_keep_the_exact_text(tmp_path: Path, case: str) -> None:
    """The escapes are for the terminal: the reports in files hold what the API answered, a lone surrogate
    (``\\ud800`` in a JSON answer) as the JSON escape it came as (it stopped the JSON report before)."""
    report, har = tmp_path / "run.json", tmp_path / "run.har"
    with loopback.serve(_Answers) as url:
        done = _run(
            "run", str(DATA / "answers.arazzo.yaml"), "--server", f"answers={url}",
            "--input", f"case={case}", "--json-output", str(report), "--har", str(har),
        )  # fmt: skip
    assert done.returncode == 1, _outputs(done)
    body = ANSWERS[case]["body"]
    assert body in _strings(json.loads(har.read_text(encoding="utf-8")))  # the answer's text as it came
    strings = _strings(json.loads(report.read_text(encoding="utf-8")))
    if case == "stytch-error":  # the JSON answer's values, the lone surrogate included, read back
        assert json.loads(body)["error_message"] in strings
    else:
        assert body in strings


def _strings(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [text for item in value.values() for text in _strings(item)]
    if isinstance(value, list):
        return [text for item in value for text in _strings(item)]
    return [value] if isinstance(value, str) else []


DOCUMENT_PROBLEMS = {
    "controls-operations.arazzo.yaml": [
        "/workflows/0/steps/0/operationId: no operation 'nope\\x1b[2J\\x9b' in source 'answers'",
        "/workflows/0/steps/1/operationPath: no operation at '/paths/~1x\\x1b[3m\\u202e/get' in source"
        " 'answers'",
    ],
    "controls-source.arazzo.yaml": [
        "/missing\\x1b[2J\\x1b]0;pwned\\x07\\u202e.yaml: No such file or directory",
    ],
}


@pytest.mark.parametrize("document", sorted(DOCUMENT_PROBLEMS))
@pytest.mark.parametrize("command", ["validate", "run"])
def test_problems_quoting_the_document_show_its_controls_as_escapes(command: str, document: str) -> None:
    done = _run(command, str(DATA / document), *(["--no-prompt"] if command == "run" else []))
    stdout, stderr = _outputs(done)
    assert done.returncode == 2, stdout + stderr
    for name, text in (("stdout", stdout), ("stderr", stderr)):
        found = TERMINAL_CONTROLS.findall(text)
        assert not found, f"{name} holds {found!r}:\n{text}"
    shown = (stdout if command == "validate" else stderr).splitlines()
    for problem in DOCUMENT_PROBLEMS[document]:
        assert any(line.endswith(problem) for line in shown), f"{problem!r} not in:\n{stdout}{stderr}"
