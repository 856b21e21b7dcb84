"""What a request costs between the socket and the service: the enrollment flow driven straight into the
ASGI app (no sockets, no uvicorn), one request at a time, against the same service calls made directly.

    .venv/bin/python bench/bench_app_path.py [--smoke] [--flows N] [--rounds R]

Three ways of making the three service calls of a flow (``bench_server.py``'s enrollment), on SQLite, each
measured in CPU time per flow of this process (all its threads), rounds interleaved:

* ``services``: the service calls made directly (``bench_server.in_process_floor``);
* ``app, every call in a thread``: through the app (middleware, routing, authentication, body decoding,
  response encoding, the request log and metrics), every service call handed to the service threads;
* ``app, as served``: the same, with the calls of ``services.ON_LOOP`` made on the event loop's own thread,
  suspended where they would wait (``Storage.run_on_loop``), as the server does.

The differences are the app's own cost and the hand-off to a thread. Results go to
``bench/results/app_path.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import logging
import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import bench_server
import msgspec
import pyotp
import servers

from totpflow.server import services
from totpflow.server.app import create_app
from totpflow.server.config import Settings
from totpflow.server.http import access_log
from totpflow.server.storage.protocol import WouldWait
from totpflow.server.wiring import build_deps


class AsgiClient:
    """Requests straight into an ASGI app, with the project's Basic credentials."""

    def __init__(self, app: Any, project_id: str, secret: str) -> None:
        self.app = app
        self.auth = b"Basic " + base64.b64encode(f"{project_id}:{secret}".encode())

    async def post(self, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        body = msgspec.json.encode(payload)
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": [
                (b"host", b"bench"),
                (b"authorization", self.auth),
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
            "client": ("127.0.0.1", 1),
            "server": ("127.0.0.1", 2),
            "state": {},
        }
        received = False
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            nonlocal received
            if not received:
                received = True
                return {"type": "http.request", "body": body, "more_body": False}
            await asyncio.Event().wait()  # no disconnect while the request runs
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        await self.app(scope, receive, send)
        if sent[0]["status"] != 200:
            raise RuntimeError(f"{path}: {sent[0]['status']} {sent[1]['body'][:200]!r}")
        answer: dict[str, Any] = msgspec.json.decode(sent[1]["body"])
        return answer


def app_round(database_url: str, flows: int, *, on_loop: bool) -> float:
    """CPU µs per enrollment flow through the app; ``on_loop`` False hands every call to a thread."""
    settings = Settings.load({**os.environ, "TOTPFLOW_DATABASE_URL": database_url})
    deps = build_deps(settings)
    project, secret = services.create_project(deps)
    store: Any = deps.store
    if not on_loop:

        async def never(call: Any) -> Any:
            raise WouldWait()

        store.run_on_loop = never
    client = AsgiClient(create_app(settings, deps), project.project_id, secret)
    tag = uuid.uuid4().hex[:8]

    async def flow(number: int) -> None:
        user = await client.post("/v1/users", {"email": f"app-{tag}-{number}@example.com"})
        totp = await client.post("/v1/totps", {"user_id": user["user_id"]})
        code = pyotp.TOTP(totp["secret"]).now()
        payload = {"user_id": user["user_id"], "totp_code": code, "session_duration_minutes": 60}
        await client.post("/v1/totps/authenticate", payload)

    async def run() -> float:
        for number in range(min(50, flows)):
            await flow(-1 - number)
        cpu0 = time.process_time()
        for number in range(flows):
            await flow(number)
        return (time.process_time() - cpu0) / flows * 1e6

    try:
        return asyncio.run(run())
    finally:
        store.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="a few flows, one round")
    parser.add_argument("--flows", type=int, default=1500)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--output", type=Path, default=servers.RESULTS / "app_path.json")
    args = parser.parse_args()
    if args.smoke:
        args.flows, args.rounds = 20, 1
    access_log.configure("json")  # the request log is written, as when served, to /dev/null
    handler = logging.getLogger(access_log.LOGGER_NAME).handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(open(os.devnull, "w"))
    samples: dict[str, list[float]] = {"services": [], "app_every_call_in_a_thread": [], "app_as_served": []}
    with tempfile.TemporaryDirectory(prefix="bench-app-path-") as tmp:
        for round_number in range(args.rounds):
            url = f"sqlite:///{Path(tmp) / f'r{round_number}'}"
            floor = bench_server.in_process_floor(url + "-floor.db", args.flows, 600)
            samples["services"].append(float(floor["cpu_us_per_flow"]))
            samples["app_every_call_in_a_thread"].append(
                app_round(url + "-thread.db", args.flows, on_loop=False)
            )
            samples["app_as_served"].append(app_round(url + "-loop.db", args.flows, on_loop=True))
    medians = {name: round(statistics.median(values), 1) for name, values in samples.items()}
    base = medians["services"]
    results = {
        "machine": servers.machine(),
        "flows_per_round": args.flows,
        "rounds": args.rounds,
        "cpu_us_per_flow": medians,
        "samples": {name: [round(v, 1) for v in values] for name, values in samples.items()},
        "app_us_per_request": {
            "every_call_in_a_thread": round((medians["app_every_call_in_a_thread"] - base) / 3, 1),
            "as_served": round((medians["app_as_served"] - base) / 3, 1),
        },
    }
    servers.write_results(args.output, results, show=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
