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
