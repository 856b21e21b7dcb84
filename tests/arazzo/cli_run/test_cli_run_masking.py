"""No secret reaches any output of ``totpflow run`` (terminal, JSON report, JUnit, HAR) where one can hide: an
apiKey percent-encoded in the query, credentials in a JSON request body from ordinary inputs, a token a
response hands out in a header and an output and a failed check then quote, and a Basic password the server
echoes with JSON escapes (``\\/``). A real server on loopback, the CLI in a subprocess."""

from __future__ import annotations

import base64
import json
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import loopback
from run_process import totpflow

DOCUMENT = Path(__file__).parent / "data" / "masking" / "secrets.arazzo.yaml"
API_KEY = "QueryKey+/=&Yz5"
PASSWORD = "BasicPw+/=Zq9"
HEADER_TOKEN = "HdrTok1a2b3c4d5e6f7g"
SECRETS = [
    API_KEY,
    "QueryKey%2B%2F%3D%26Yz5",
    "246810",
    "PlainPw123",
    "LiteralSecretInDoc123",
    HEADER_TOKEN,
    PASSWORD,
    "BasicPw+\\\\/=Zq9",
]


class _Echo(BaseHTTPRequestHandler):
    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        received = self.rfile.read(length).decode() if length else ""
        if self.path.startswith("/escaped"):
            basic = self.headers.get("Authorization", "").removeprefix("Basic ")
            password = base64.b64decode(basic).decode().partition(":")[2]
            body = ('{"seen":"' + password.replace("/", "\\/") + '"}').encode()
            extra: list[tuple[str, str]] = []
        else:
            body = json.dumps({"path": self.path, "body": received}).encode()
            extra = [("X-Auth-Token", HEADER_TOKEN)]
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        for name, value in extra:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, *args: object) -> None:
        pass


def test_no_secret_in_any_output(tmp_path: Path) -> None:
    reports = {name: tmp_path / name for name in ("run.json", "run.xml", "run.har")}
    with loopback.serve(_Echo) as url:
        done = totpflow(
            str(DOCUMENT), "-v", "--server", f"echo={url}",
            "--auth", f"echo.queryKey={API_KEY}", "--auth", f"echo.basic=BasicUser:{PASSWORD}",
            "--input", "code=246810", "--input", "plain=PlainPw123",
            "--json-output", str(reports["run.json"]), "--junit", str(reports["run.xml"]),
            "--har", str(reports["run.har"]),
        )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr  # the check against the token fails
    outputs = {"terminal": done.stdout + done.stderr} | {
        name: path.read_text(encoding="utf-8") for name, path in reports.items()
    }
    report = json.loads(outputs["run.json"])
    steps = report["workflows"][0]["steps"]
    assert [step["stepId"] for step in steps] == ["post", "escaped"]  # every step ran and was recorded
    assert "********" in outputs["terminal"]
    for name, text in outputs.items():
        for secret in SECRETS:
            assert secret not in text, f"{secret[:4]}… in {name}"


CHARSET_API = """
openapi: 3.1.0
info: {title: charsets, version: "1"}
servers: [{url: "http://127.0.0.1:1"}]
paths:
  /json:
    post:
      operationId: postJson
      requestBody: {content: {"application/json; charset=iso-8859-1": {schema: {type: object}}}}
      responses: {"200": {description: ok}}
  /form:
    post:
      operationId: postForm
      requestBody:
        content: {"application/x-www-form-urlencoded; charset=iso-8859-1": {schema: {type: object}}}
      responses: {"200": {description: ok}}
  /upload:
    post:
      operationId: upload
      requestBody:
        content:
          multipart/form-data:
            encoding:
              note: {contentType: "text/plain; charset=iso-8859-1"}
              wide: {contentType: "text/plain; charset=utf-16"}
      responses: {"200": {description: ok}}
"""

CHARSET_WORKFLOW = """
arazzo: 1.0.1
info: {title: secrets in other charsets, version: "1"}
sourceDescriptions: [{name: api, url: ./api.yaml, type: openapi}]
workflows:
  - workflowId: send
    inputs:
      type: object
      properties:
        pw: {type: string, format: password}
    steps:
      - stepId: json
        operationId: postJson
        requestBody: {payload: {note: $inputs.pw}}
        successCriteria: [{condition: $statusCode == 200}]
      - stepId: form
        operationId: postForm
        requestBody: {payload: {note: $inputs.pw}}
        successCriteria: [{condition: $statusCode == 200}]
      - stepId: upload
        operationId: upload
        requestBody: {payload: {note: $inputs.pw, wide: "token {$inputs.pw}"}}
        successCriteria: [{condition: $statusCode == 200}]
"""


def test_a_secret_written_in_another_charset_is_masked_in_every_output(tmp_path: Path) -> None:
    """A password input sent in bodies written in ISO-8859-1 (JSON text, a form, a multipart part) and inside
    a UTF-16 part: its bytes there are not its UTF-8 bytes, and read back as UTF-8 they were the password
    with one character replaced, or with NULs between its characters, in clear."""
    (tmp_path / "api.yaml").write_text(CHARSET_API, encoding="utf-8")
    (tmp_path / "flow.arazzo.yaml").write_text(CHARSET_WORKFLOW, encoding="utf-8")
    reports = {name: tmp_path / name for name in ("run.json", "run.xml", "run.har")}
    received: list[bytes] = []

    class Quiet(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    with loopback.serve(Quiet) as url:
        done = totpflow(
            str(tmp_path / "flow.arazzo.yaml"), "-v", "--server", f"api={url}",
            "--input", "pw=Geheimnis-Passwört-42",
            "--json-output", str(reports["run.json"]), "--junit", str(reports["run.xml"]),
            "--har", str(reports["run.har"]),
        )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert len(received) == 3 and all(b"Passw\xf6rt" in body or b"Passw%F6rt" in body for body in received)
    outputs = {"terminal": done.stdout + done.stderr} | {
        name: path.read_text(encoding="utf-8") for name, path in reports.items()
    }
    assert "Geheimnis".encode("utf-16-le") in received[2]
    for name, text in outputs.items():
        for shown in ("Geheimnis", "G\x00e\x00h\x00e\x00i", "G\\u0000e\\u0000h", "G e h e i"):
            assert shown not in text, f"the password in {name}"
