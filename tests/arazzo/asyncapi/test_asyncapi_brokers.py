"""Each protocol adapter against a real broker (Mosquitto, RabbitMQ, NATS) or a loopback WebSocket hub: a
send + receive round trip, correlation among decoys, timeout, and application headers. Every test uses its own
channel address (a uuid), so parallel runs never see each other's messages."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
import uuid
from typing import Any

import pytest
from broker_endpoints import CREDENTIALS
from broker_endpoints import run_adapters as run

from totpflow.arazzo.asyncapi import Adapter, CorrelationId, Message, adapter_for, receive
from totpflow.arazzo.errors import BrokerError, ReceiveTimeout

PROTOCOLS = ["mqtt", "amqp", "nats", "ws"]
HEADERS = {"mqtt": True, "amqp": True, "nats": True, "ws": False}  # per-message application headers
BY_PAYLOAD = CorrelationId.parse("$message.payload#/requestId")
BY_HEADER = CorrelationId.parse("$message.header#/orderRequestId")


def address(protocol: str) -> str:
    unique = uuid.uuid4().hex
    # MQTT topics and WebSocket paths take slashes; AMQP routing keys and NATS subjects dots
    return f"totpflow/test/{unique}" if protocol in ("mqtt", "ws") else f"totpflow.test.{unique}"


def body(**fields: Any) -> bytes:
    return json.dumps(fields).encode()


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_round_trip(protocol: str) -> None:
    channel = address(protocol)

    async def scenario(runner: Adapter, peer: Adapter) -> Message:
        async def trigger() -> None:
            await runner.publish(channel, {}, body(requestId="r-1", petId=7), content_type="application/json")

        return await receive(peer, channel, timeout=10, trigger=trigger)

    got = run(protocol, scenario)
    assert got.decoded() == {"requestId": "r-1", "petId": 7}
    assert got.address == channel


@pytest.mark.parametrize("protocol", ["mqtt", "amqp", "ws"])  # NATS servers refuse over 1 MB by default
def test_a_message_of_several_mebibytes_round_trips(protocol: str) -> None:
    channel = address(protocol)
    large = body(requestId="r-big", blob="x" * (3 << 20))

    async def scenario(runner: Adapter, peer: Adapter) -> Message:
        async def trigger() -> None:
            await runner.publish(channel, {}, large, content_type="application/json")

        return await receive(peer, channel, timeout=20, trigger=trigger)

    assert run(protocol, scenario).payload == large


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_correlation_skips_decoys(protocol: str) -> None:
    channel = address(protocol)

    async def scenario(runner: Adapter, peer: Adapter) -> Message:
        async def trigger() -> None:  # the peer answers other requests first, and a message with no id at all
            await peer.publish(channel, {}, body(requestId="someone-else", n=1))
            await peer.publish(channel, {}, body(unrelated=True, n=2))
            await peer.publish(channel, {}, b"not json")
            await peer.publish(channel, {}, body(requestId="r-42", n=3))
            await peer.publish(channel, {}, body(requestId="r-42", n=4))

        return await receive(
            runner, channel, timeout=10, correlation=BY_PAYLOAD, expected="r-42", trigger=trigger
        )

    assert run(protocol, scenario).decoded() == {"requestId": "r-42", "n": 3}


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_message_sent_before_the_wait_still_counts(protocol: str) -> None:
    """Subscribed, then the peer answers at once (before anything waits): the answer is buffered, not lost."""
    channel = address(protocol)

    async def scenario(runner: Adapter, peer: Adapter) -> Message:
        async def trigger() -> None:
            await peer.publish(channel, {}, body(requestId="early"))
            await asyncio.sleep(0.2)  # the reply is delivered while nothing is reading

        return await receive(
            runner, channel, timeout=10, correlation=BY_PAYLOAD, expected="early", trigger=trigger
        )

    assert run(protocol, scenario).decoded() == {"requestId": "early"}


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_timeout_names_channel_correlation_id_and_time(protocol: str) -> None:
    channel = address(protocol)

    async def scenario(runner: Adapter, peer: Adapter) -> Message:
        async def trigger() -> None:
            await peer.publish(channel, {}, body(requestId="not-this-one"))

        return await receive(
            runner, channel, timeout=0.5, correlation=BY_PAYLOAD, expected="r-missing", trigger=trigger
        )

    with pytest.raises(ReceiveTimeout) as caught:
        run(protocol, scenario)
    error = caught.value
    assert (error.channel, error.correlation_id, error.timeout) == (channel, "r-missing", 0.5)
    assert channel in str(error) and "r-missing" in str(error) and "0.5 s" in str(error)


@pytest.mark.parametrize("protocol", [p for p in PROTOCOLS if HEADERS[p]])
def test_headers_round_trip_and_correlate(protocol: str) -> None:
    channel = address(protocol)

    async def scenario(runner: Adapter, peer: Adapter) -> Message:
        async def trigger() -> None:
            await peer.publish(channel, {"orderRequestId": "decoy"}, body(n=1))
            await peer.publish(
                channel,
                {"orderRequestId": "r-7", "x-trace": "t-1"},
                body(n=2),
                content_type="application/json",
            )

        return await receive(
            runner, channel, timeout=10, correlation=BY_HEADER, expected="r-7", trigger=trigger
        )

    got = run(protocol, scenario)
    assert got.headers == {"orderRequestId": "r-7", "x-trace": "t-1"}
    assert got.decoded() == {"n": 2}
    if protocol != "nats":  # NATS has no content-type field
        assert got.content_type == "application/json"


@pytest.mark.parametrize("protocol", [p for p in PROTOCOLS if not HEADERS[p]])
def test_protocols_without_headers_refuse_them(protocol: str) -> None:
    async def scenario(runner: Adapter, peer: Adapter) -> None:
        await runner.publish(address(protocol), {"orderRequestId": "r-1"}, body())

    with pytest.raises(BrokerError, match="carries no headers"):
        run(protocol, scenario)


@pytest.mark.parametrize(
    ("topic", "action"),
    [
        ("totpflow/test/a#", "receive"),  # '#' only as a whole last level
        ("totpflow/test/a+b", "receive"),  # '+' only as a whole level
        ("totpflow/#/x", "receive"),
        ("totpflow/test/+", "send"),  # no wildcard in a topic published to
        ("totpflow/test/a\nb", "receive"),  # Mosquitto drops a connection over a control character
        ("totpflow/test/a\x00b", "send"),
        ("", "send"),
    ],
)
def test_an_address_that_is_no_mqtt_topic_is_a_broker_error(topic: str, action: str) -> None:
    """Refused before anything reaches the broker, as a ``BrokerError`` that fails the step."""

    async def scenario(runner: Adapter, peer: Adapter) -> None:
        if action == "send":
            await runner.publish(topic, {}, body())
        else:
            await receive(peer, topic, timeout=5)

    with pytest.raises(BrokerError, match="no MQTT topic"):
        run("mqtt", scenario)


@pytest.mark.parametrize(
    ("protocol", "name", "value"),
    [
        ("mqtt", "x-note", "a\tb"),  # Mosquitto drops the connection over any control character
        ("mqtt", "x-note", "a\r\nX-Injected: yes"),
        ("mqtt", "x\nnote", "plain"),
        ("nats", "x-note", "a\r\nX-Injected: yes"),  # nats-py would send the line break as spaces
        ("nats", "x-note", "a\nb"),
        ("nats", "", "plain"),  # nats-py would drop the header
    ],
)
def test_a_header_the_protocol_cannot_carry_is_refused_and_the_connection_kept(
    protocol: str, name: str, value: str
) -> None:
    """Refused before anything is sent, naming the header and not its value (it may be a secret); the
    connection stays usable."""
    channel = address(protocol)

    async def scenario(runner: Adapter, peer: Adapter) -> Message:
        with pytest.raises(BrokerError, match=re.escape(f"header {name!r} cannot be sent")) as refused:
            await runner.publish(channel, {name: value}, body())
        assert value not in str(refused.value)

        async def trigger() -> None:
            await runner.publish(channel, {"x-note": "fine"}, body(n=3))

        return await receive(peer, channel, timeout=10, trigger=trigger)

    got = run(protocol, scenario)
    assert (got.decoded(), got.headers) == ({"n": 3}, {"x-note": "fine"})


@pytest.mark.parametrize("subject", ["totpflow.test.*", "totpflow.test.>", "totpflow..test", ".t", "a b"])
def test_a_subject_that_cannot_be_published_to_is_a_broker_error(subject: str) -> None:
    """Refused before it is sent, as a receive on it is: NATS would take it and deliver it nowhere."""

    async def scenario(runner: Adapter, peer: Adapter) -> None:
        await runner.publish(subject, {}, body())

    with pytest.raises(BrokerError, match="cannot publish"):
        run("nats", scenario)


@pytest.mark.parametrize(
    ("value", "text"),
    [(True, "true"), (False, "false"), (5, "5"), (1.5, "1.5"), (b"abc", "abc"), ("x", "x"), (None, "null")],
)
def test_amqp_header_values_are_text_as_on_the_other_protocols(value: Any, text: str) -> None:
    from totpflow.arazzo.asyncapi.amqp import _header_text

    assert _header_text(value) == text


@pytest.mark.parametrize("protocol", ["mqtt", "amqp", "nats"])
def test_unreachable_broker_is_a_broker_error(protocol: str) -> None:
    from totpflow.arazzo.asyncapi import Endpoint

    async def main() -> None:
        adapter = adapter_for(protocol)
        try:
            await adapter.connect(Endpoint(protocol, "127.0.0.1", 1), CREDENTIALS.get(protocol))
        finally:
            await adapter.close()

    with pytest.raises(BrokerError, match=r"cannot connect to 127\.0\.0\.1: \S"):  # and why
        asyncio.run(main())


def test_a_subscription_whose_connection_ends_fails_the_wait_at_once() -> None:
    """The server hangs up: the wait fails with BrokerError instead of running into its (long) timeout."""
    from websockets.asyncio.server import ServerConnection, serve

    from totpflow.arazzo.asyncapi import Endpoint

    async def hang_up(connection: ServerConnection) -> None:
        await connection.send(json.dumps({"requestId": "someone-else"}))
        await connection.close()

    async def main() -> Message:
        async with serve(hang_up, "127.0.0.1", 0) as server:
            adapter = adapter_for("ws")
            await adapter.connect(Endpoint("ws", "127.0.0.1", next(iter(server.sockets)).getsockname()[1]))
            try:
                return await receive(adapter, "orders", timeout=60, correlation=BY_PAYLOAD, expected="mine")
            finally:
                await adapter.close()

    with pytest.raises(BrokerError, match="subscription to 'orders' ended: the connection closed"):
        asyncio.run(main())


def test_a_nats_subscription_whose_connection_ends_fails_the_wait_at_once() -> None:
    """NATS through a loopback proxy that cuts the connection once the subscription is made: the wait fails
    with BrokerError at once (the runner's NATS client does not reconnect)."""
    from broker_endpoints import require_broker

    from totpflow.arazzo.asyncapi import Endpoint

    require_broker("nats")
    cut = asyncio.Event()

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.CancelledError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()

    async def proxy(client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        server_reader, server_writer = await asyncio.open_connection("127.0.0.1", 4222)
        pumps = [asyncio.ensure_future(pipe(client_reader, server_writer)),
                 asyncio.ensure_future(pipe(server_reader, client_writer))]  # fmt: skip
        await cut.wait()
        for pump in pumps:
            pump.cancel()
        for writer in (client_writer, server_writer):
            writer.close()

    async def main() -> float:
        server = await asyncio.start_server(proxy, "127.0.0.1", 0)
        adapter = adapter_for("nats")
        await adapter.connect(Endpoint("nats", "127.0.0.1", server.sockets[0].getsockname()[1]))
        asyncio.get_running_loop().call_later(0.5, cut.set)
        started = time.monotonic()
        try:
            with pytest.raises(BrokerError, match="ended: the connection closed"):
                await receive(adapter, address("nats"), timeout=30)
            return time.monotonic() - started
        finally:
            await adapter.close()
            server.close()

    assert asyncio.run(main()) < 10  # not the 30 s timeout
