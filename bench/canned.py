"""The HTTP layer's own floor: the enrollment's three requests answered from memory, served as ``totpflow
serve`` serves (uvicorn with totpflow's protocol, uvloop and httptools, one process), so ``compare_load.py``
can put it beside the real server and Prism.

Two servers, each answering with the three bodies a real ``totpflow serve`` gave one enrollment (same sizes,
same fields; the QR code makes the TOTP's about 4 KB):

* ``canned``: a bare ASGI callable that reads the request body and sends the stored answer for its path;
* ``canned-app``: the same answers from a Starlette app with totpflow's middleware as served (the request
  log, written as JSON to stderr, the metrics, the header bounds, the 500 handler).

Run one by hand: ``python bench/canned.py KIND PORT BODIES`` (``BODIES``: a JSON file of
:func:`capture_bodies`).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pyotp
import servers
from loadgen import Connection

from totpflow.testing import StytchServer

KINDS = ("canned", "canned-app")
PATHS = ("/v1/users", "/v1/totps", "/v1/totps/authenticate")


async def _one_flow(server: StytchServer) -> dict[str, str]:
    """The three response bodies of one real enrollment on ``server``, by path."""
    auth = b"Authorization: Basic %s\r\n" % base64.b64encode(f"{server.project_id}:{server.secret}".encode())
    connection = await Connection.open(server.base_url)
    try:
        bodies: dict[str, str] = {}
        new_user = msgspec.json.encode({"email": "canned@example.com"})
        _, body = await connection.request("POST", PATHS[0], new_user, auth)
        bodies[PATHS[0]] = body.decode()
        user_id = msgspec.json.decode(body)["user_id"]
        _, body = await connection.request("POST", PATHS[1], msgspec.json.encode({"user_id": user_id}), auth)
        bodies[PATHS[1]] = body.decode()
        code = pyotp.TOTP(msgspec.json.decode(body)["secret"]).now()
        payload = {"user_id": user_id, "totp_code": code, "session_duration_minutes": 60}
        _, body = await connection.request("POST", PATHS[2], msgspec.json.encode(payload), auth)
        bodies[PATHS[2]] = body.decode()
        return bodies
    finally:
        await connection.close()


def capture_bodies(directory: Path) -> Path:
    """Write the bodies of one enrollment on a fresh ``totpflow serve`` to ``directory/bodies.json``."""
    (directory / "capture").mkdir()
    with servers.totpflow_server(directory / "capture") as (server, _pid):
        bodies = asyncio.run(_one_flow(server))
    path = directory / "bodies.json"
    path.write_text(json.dumps(bodies))
    return path


def bare_app(bodies: dict[str, bytes]) -> Any:
    headers = {
        path: [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
        for path, body in bodies.items()
    }

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        while (await receive()).get("more_body"):
            pass
        path = scope["path"]
        await send({"type": "http.response.start", "status": 200, "headers": headers[path]})
        await send({"type": "http.response.body", "body": bodies[path]})

    return app


def framed_app(bodies: dict[str, bytes]) -> Any:
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    from totpflow.server.http import access_log
    from totpflow.server.http.errors import CatchUnexpected
    from totpflow.server.http.headers import HeaderLimits

    def answer(path: str) -> Any:
        body = bodies[path]

        async def endpoint(request: Request) -> Response:
            await request.body()
            return Response(body, 200, media_type="application/json")

        return endpoint

    return Starlette(
        routes=[Route(path, answer(path), methods=["POST"]) for path in bodies],
        middleware=[Middleware(access_log.AccessLog), Middleware(CatchUnexpected), Middleware(HeaderLimits)],
    )


@contextlib.contextmanager
def canned_server(kind: str, bodies: Path) -> Iterator[tuple[StytchServer, int]]:
    """A ``kind`` server (see the module docstring) on a free loopback port, and its pid."""
    port = servers.free_port()
    log_path = bodies.parent / f"{kind}-{port}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, __file__, kind, str(port), str(bodies)], stdout=log, stderr=subprocess.STDOUT
        )
        try:
            base_url = f"http://127.0.0.1:{port}"
            servers.wait_http(base_url + PATHS[0], process, 30, log_path)
            yield StytchServer(base_url, "project-test-canned", "secret", ""), process.pid
        finally:
            servers.stop(process)


def main() -> int:
    import uvicorn

    from totpflow.server.http import access_log
    from totpflow.server.http.protocol import PROTOCOL

    kind, port, path = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
    bodies = {name: text.encode() for name, text in json.loads(path.read_text()).items()}
    app = bare_app(bodies) if kind == "canned" else framed_app(bodies)
    # As ``totpflow serve`` runs one worker: its protocol and its log configuration (the request log is JSON).
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        http=PROTOCOL,
        access_log=False,
        log_config=access_log.logging_config("json"),
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
