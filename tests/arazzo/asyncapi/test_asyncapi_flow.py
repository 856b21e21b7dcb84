"""The whole chain on each real broker: an AsyncAPI document's operation → target → endpoint (a
``--server``-style override URL) → connected adapter; the workflow sends an order and receives the shop's
correlated reply on the reply channel, while the shop answers another request first."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from broker_endpoints import BROKERS, require_broker

from totpflow.arazzo.asyncapi import (
    AsyncApiDocument,
    Connections,
    Message,
    adapter_for,
    encode_payload,
    endpoint_from_url,
    pick_endpoint,
    receive,
)
from totpflow.arazzo.errors import BrokerError, UsageError

DATA = Path(__file__).parent / "data"
URLS = {
    "mqtt": "mqtt://127.0.0.1:1883",
    "amqp": "amqp://guest:guest@127.0.0.1:5672",
    "nats": "nats://127.0.0.1:4222",
}


@pytest.mark.parametrize("protocol", list(BROKERS))
def test_send_an_order_and_receive_the_correlated_confirmation(protocol: str) -> None:
    require_broker(protocol)
    content = yaml.safe_load((DATA / "orders.asyncapi.yaml").read_text())
    run = uuid.uuid4().hex
    content["channels"]["placeOrder"]["address"] = f"totpflow/{run}/orders/{{region}}"
    content["channels"]["confirmations"]["address"] = f"totpflow/{run}/confirmations"
    doc = AsyncApiDocument(content)
    send = doc.target(action="send", operation_id="placeOrder", parameters={"region": "us"})
    wait = doc.target(action="receive", operation_id="placeOrder")
    assert send.address is not None and wait.address is not None
    (order_type,) = send.messages
    request_id = f"req-{run}"

    async def shop(endpoint: Any, credentials: Any, ready: asyncio.Event) -> None:
        """The application the document describes: receives an order, confirms it on the reply channel."""
        adapter = adapter_for(endpoint.protocol)
        await adapter.connect(endpoint, credentials)
        orders = await adapter.subscribe(send.address)
        ready.set()
        try:
            order = await orders.get()
            rid = order.headers["orderRequestId"]
            for reply in (
                {"requestId": "another-request", "status": "rejected"},
                {"requestId": rid, "status": "ok"},
            ):
                await adapter.publish(wait.address, {}, encode_payload(reply, "application/json"))
        finally:
            await orders.close()
            await adapter.close()

    async def workflow() -> tuple[Message, str]:
        endpoint = pick_endpoint(send, override=URLS[protocol])
        credentials = endpoint_from_url(URLS[protocol])[1]
        ready = asyncio.Event()
        peer = asyncio.create_task(shop(endpoint, credentials, ready))
        await ready.wait()
        connections = Connections()
        try:
            adapter = await connections.adapter(endpoint, credentials)
            assert await connections.adapter(endpoint, credentials) is adapter  # one connection per server

            async def place_order() -> None:
                payload = encode_payload({"petId": 7}, order_type.content_type)
                await adapter.publish(send.address, {"orderRequestId": request_id}, payload)

            (correlation,) = wait.correlations
            got = await receive(
                adapter,
                wait.address,
                timeout=10,
                correlation=correlation,
                expected=request_id,
                trigger=place_order,
            )
            await peer
            return got, endpoint.protocol
        finally:
            peer.cancel()
            await connections.close()

    got, used = asyncio.run(workflow())
    assert used == protocol
    assert got.decoded() == {"requestId": request_id, "status": "ok"}
    assert send.address.endswith("/orders/us")


def test_endpoint_from_url_reads_user_and_password() -> None:
    endpoint, credentials = endpoint_from_url("AMQP://us%40r:p%2Fw@broker.example:5673/vhost")
    assert (endpoint.protocol, endpoint.host, endpoint.port, endpoint.pathname) == (
        "amqp",
        "broker.example",
        5673,
        "/vhost",
    )
    assert credentials is not None and (credentials.username, credentials.password) == ("us@r", "p/w")


@pytest.mark.parametrize("url", ["127.0.0.1:1883", "mqtt://", "mqtt://host:99999"])
def test_a_bad_override_url_is_a_usage_error(url: str) -> None:
    with pytest.raises(UsageError, match="broker URL"):
        endpoint_from_url(url)


def test_the_first_server_with_an_adapter_is_used() -> None:
    content = yaml.safe_load((DATA / "orders.asyncapi.yaml").read_text())
    content["servers"]["broker"]["protocol"] = "kafka"
    doc = AsyncApiDocument(content)
    assert (
        pick_endpoint(doc.target(action="send", channel_path="#/channels/confirmations")).protocol == "amqp"
    )
    with pytest.raises(
        BrokerError, match=r"no server with a supported protocol \(servers: broker \(kafka\)\)"
    ):
        pick_endpoint(doc.target(action="send", operation_id="placeOrder"))


@pytest.mark.parametrize(
    ("value", "content_type", "wire"),
    [
        ({"a": 1}, "application/json", b'{"a":1}'),
        ({"a": 1}, None, b'{"a":1}'),
        ("text", "text/plain", b"text"),
        ("text", "application/json", b'"text"'),
        (b"\x00raw", "application/octet-stream", b"\x00raw"),
        (7, None, b"7"),
    ],
)
def test_encode_payload(value: Any, content_type: str | None, wire: bytes) -> None:
    assert encode_payload(value, content_type) == wire
    if content_type == "application/json":
        assert json.loads(wire) == value
