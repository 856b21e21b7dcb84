"""An operation whose reply address is dynamic (``reply.address.location: $message.header#/replyTo``): the
runner picks a fresh address, subscribes to it, writes it into the message it sends, and the application
replies there."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from broker_endpoints import BROKERS, CREDENTIALS, endpoint_for, require_broker

from totpflow.arazzo.asyncapi import (
    AsyncApiDocument,
    CorrelationId,
    Message,
    adapter_for,
    encode_payload,
    put,
    receive,
    reply_address,
)
from totpflow.arazzo.errors import EvaluationError

DATA = Path(__file__).parent / "data"


@pytest.mark.parametrize("protocol", list(BROKERS))
def test_reply_to_an_address_the_runner_chose(protocol: str) -> None:
    require_broker(protocol)
    content = yaml.safe_load((DATA / "orders.asyncapi.yaml").read_text())
    content["channels"]["placeOrder"]["address"] = f"totpflow/{uuid.uuid4().hex}/orders/{{region}}"
    doc = AsyncApiDocument(content)
    send = doc.target(action="send", operation_id="placeOrderDynamic")
    wait = doc.target(action="receive", operation_id="placeOrderDynamic")
    assert send.address is not None and wait.address is None and wait.reply_location is not None
    inbox = reply_address(protocol)
    headers, payload = put(CorrelationId.parse(wait.reply_location), {}, {"petId": 7}, inbox)

    async def main() -> Message:
        async with endpoint_for(protocol) as endpoint:
            runner, shop = adapter_for(protocol), adapter_for(protocol)
            await runner.connect(endpoint, CREDENTIALS.get(protocol))
            await shop.connect(endpoint, CREDENTIALS.get(protocol))
            orders = await shop.subscribe(send.address)

            async def answer() -> None:
                order = await orders.get()
                await shop.publish(order.headers["replyTo"], {}, encode_payload({"status": "ok"}, None))

            answering = asyncio.create_task(answer())
            try:

                async def place_order() -> None:
                    await runner.publish(send.address, headers, encode_payload(payload, "application/json"))

                got = await receive(runner, inbox, timeout=10, trigger=place_order)
                await answering
                return got
            finally:
                answering.cancel()
                await orders.close()
                await runner.close()
                await shop.close()

    got = asyncio.run(main())
    assert (got.address, got.decoded()) == (inbox, {"status": "ok"})


def test_put_writes_a_header_or_into_the_payload() -> None:
    by_header = CorrelationId.parse("$message.header#/replyTo")
    assert put(by_header, {"a": "1"}, {"x": 1}, "inbox") == ({"a": "1", "replyTo": "inbox"}, {"x": 1})
    by_payload = CorrelationId.parse("$message.payload#/meta/replyTo")
    assert put(by_payload, {}, {"meta": {}}, "inbox") == ({}, {"meta": {"replyTo": "inbox"}})
    with pytest.raises(EvaluationError, match="exactly one header"):
        put(CorrelationId.parse("$message.header#/a/b"), {}, None, "inbox")


@pytest.mark.parametrize(
    ("protocol", "separator"), [("mqtt", "/"), ("ws", "/"), ("amqp", "."), ("nats", ".")]
)
def test_reply_addresses_are_fresh_and_fit_the_protocol(protocol: str, separator: str) -> None:
    first: Any = reply_address(protocol)
    assert first != reply_address(protocol)
    assert first.split(separator)[:2] == ["totpflow", "reply"]
