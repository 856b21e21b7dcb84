"""Bindings and the protocols beside the broker round trips: AMQP queues and named exchanges, NATS queue
groups, the HTTP adapter against a loopback server, and a missing client extra."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid
from http.server import BaseHTTPRequestHandler
from typing import Any, ClassVar
from urllib.parse import urlsplit

import loopback
import pytest
from broker_endpoints import run_adapters

from totpflow.arazzo.asyncapi import Adapter, CorrelationId, Endpoint, Message, adapter_for, receive
from totpflow.arazzo.errors import BrokerError

BY_PAYLOAD = CorrelationId.parse("$message.payload#/requestId")


@pytest.mark.parametrize(
    "bindings",
    [
        pytest.param(
            {"amqp": {"is": "queue", "queue": {"exclusive": False, "autoDelete": True}}}, id="queue"
        ),
        pytest.param(
            {"amqp": {"is": "routingKey", "exchange": {"name": "", "type": "topic"}}},
            id="exchange-without-name",
        ),
        pytest.param(
            {"amqp": {"is": "routingKey", "exchange": {"name": "X", "type": "direct", "autoDelete": True}}},
            id="named-direct-exchange",
        ),
        pytest.param(
            {"amqp": {"is": "routingKey", "exchange": {"name": "X", "type": "default"}}},
            id="default-exchange-type",
        ),
    ],
)
def test_amqp_channel_bindings_route_sends_to_receives(bindings: dict[str, Any]) -> None:
    channel = f"totpflow.test.{uuid.uuid4().hex}"
    exchange = bindings["amqp"].get("exchange")
    if exchange and exchange["name"] == "X":
        exchange["name"] = f"totpflow.test.{uuid.uuid4().hex}"  # an exchange of this test alone

    async def scenario(runner: Adapter, peer: Adapter) -> Message:
        async def trigger() -> None:
            await peer.publish(channel, {}, json.dumps({"requestId": "q-1"}).encode(), bindings=bindings)

        return await receive(
            runner,
            channel,
            timeout=10,
            correlation=BY_PAYLOAD,
            expected="q-1",
            trigger=trigger,
            bindings=bindings,
        )

    assert run_adapters("amqp", scenario).decoded() == {"requestId": "q-1"}


def test_nats_queue_group_binding_delivers_to_one_member() -> None:
    subject = f"totpflow.test.{uuid.uuid4().hex}"
    bindings = {"nats": {"queue": "workers"}}

    async def scenario(runner: Adapter, peer: Adapter) -> list[int]:
        first = await runner.subscribe(subject, bindings)
        second = await runner.subscribe(subject, bindings)
        try:
            for n in range(4):
                await peer.publish(subject, {}, json.dumps({"n": n}).encode())
            await peer.publish(subject, {}, b"{}")  # flushed after the four above: all five are delivered
            counts = []
            for receiver in (first, second):
                got = 0
                while True:
                    try:
                        async with asyncio.timeout(0.3):
                            await receiver.get()
                    except TimeoutError:
                        break
                    got += 1
                counts.append(got)
            return counts
        finally:
            await first.close()
            await second.close()

    counts = run_adapters("nats", scenario)
    assert sum(counts) == 5  # a queue group: each message reaches one member, not both


class _Recorder(BaseHTTPRequestHandler):
    seen: ClassVar[list[tuple[str, str, dict[str, str], bytes]]] = []

    def _record(self) -> None:
        length = int(self.headers.get("content-length", "0"))
        self.seen.append((self.command, self.path, dict(self.headers.items()), self.rfile.read(length)))
        status = 404 if self.path.endswith("/missing") else 202
        self.send_response(status)
        self.send_header("content-length", "0")
        self.end_headers()

    do_POST = do_PUT = _record

    def log_message(self, *_: Any) -> None:
        return None


def test_http_adapter_sends_a_request_and_refuses_to_receive() -> None:
    _Recorder.seen.clear()
    with loopback.serve(_Recorder) as base:
        url = urlsplit(base)

        async def main() -> None:
            adapter = adapter_for("http")
            await adapter.connect(Endpoint("http", url.hostname or "", url.port, "/hooks"))
            try:
                await adapter.publish(
                    "orders/placed",
                    {"orderRequestId": "r-1"},
                    b'{"petId": 7}',
                    content_type="application/json",
                )
                await adapter.publish("orders/put", {}, b"x", bindings={"http": {"method": "PUT"}})
                with pytest.raises(BrokerError, match="404"):
                    await adapter.publish("missing", {}, b"")
                with pytest.raises(BrokerError, match="cannot receive"):
                    await adapter.subscribe("orders/placed")
            finally:
                await adapter.close()

        asyncio.run(main())
    (method, path, headers, content), (put_method, put_path, _, _), _ = _Recorder.seen
    lowered = {key.lower(): value for key, value in headers.items()}
    assert (method, path, content) == ("POST", "/hooks/orders/placed", b'{"petId": 7}')
    assert (lowered["orderrequestid"], lowered["content-type"]) == ("r-1", "application/json")
    assert (put_method, put_path) == ("PUT", "/hooks/orders/put")


def test_a_missing_client_extra_says_which_to_install() -> None:
    code = (
        "import sys\n"
        "sys.modules['aiomqtt'] = None  # as if totpflow[mqtt] were not installed\n"
        "from totpflow.arazzo.asyncapi import adapter_for\n"
        "from totpflow.arazzo.errors import BrokerError\n"
        "try:\n"
        "    adapter_for('mqtt')\n"
        "except BrokerError as exc:\n"
        "    print(exc.protocol, '|', exc.message)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert (
        out.strip() == "mqtt | the client library is not installed (aiomqtt); "
        "install it with: pip install 'totpflow[mqtt]'"
    )


@pytest.mark.parametrize(
    ("channel", "operation", "merged"),
    [
        (  # an operation's amqp binding adds to the channel's, keeping its exchange
            {"amqp": {"is": "routingKey", "exchange": {"name": "ex", "type": "fanout"}}},
            {"amqp": {"expiration": 60000, "bindingVersion": "0.3.0"}},
            {
                "amqp": {
                    "is": "routingKey",
                    "exchange": {"name": "ex", "type": "fanout"},
                    "expiration": 60000,
                    "bindingVersion": "0.3.0",
                }
            },
        ),
        ({"mqtt": {"qos": 0}}, {"mqtt": {"qos": 1}}, {"mqtt": {"qos": 1}}),  # the operation's field wins
        ({"nats": {"queue": "q"}}, {"amqp": {"ack": True}}, {"nats": {"queue": "q"}, "amqp": {"ack": True}}),
        ({}, {}, {}),
    ],
)
def test_operation_bindings_merge_into_the_channels_per_protocol(
    channel: dict[str, Any], operation: dict[str, Any], merged: dict[str, Any]
) -> None:
    from totpflow.arazzo.engine.messaging import merged_bindings

    assert merged_bindings(channel, operation) == merged
