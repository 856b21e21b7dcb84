"""The AsyncAPI reader: from an Arazzo step (action + operationId | channelPath) to the address, servers,
messages and correlation ids to use, with cases in data/targets.yaml and data/target_errors.yaml."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import msgspec
import pytest
import yaml

from totpflow.arazzo.asyncapi import AsyncApiDocument, CorrelationId, Message, adapter_for
from totpflow.arazzo.errors import ArazzoError, BrokerError, DocumentError, LoadError

DATA = Path(__file__).parent / "data"
DOC = AsyncApiDocument(yaml.safe_load((DATA / "orders.asyncapi.yaml").read_text()), "file:///orders.yaml")
TARGETS = yaml.safe_load((DATA / "targets.yaml").read_text())
ERRORS = yaml.safe_load((DATA / "target_errors.yaml").read_text())


def _observed(target: Any) -> dict[str, Any]:
    return {
        "action": target.action,
        "address": target.address,
        "channel": target.channel,
        "servers": [server.name for server in target.servers],
        "messages": [message.key for message in target.messages],
        "correlations": [correlation.location for correlation in target.correlations],
        "same_direction": target.same_direction,
        "reply_location": target.reply_location,
        "operation_id": target.operation_id,
        "channel_bindings": target.channel_bindings,
        "operation_bindings": target.operation_bindings,
    }


@pytest.mark.parametrize("case", TARGETS, ids=[case["id"] for case in TARGETS])
def test_step_to_target(case: dict[str, Any]) -> None:
    observed = _observed(DOC.target(**case["step"]))
    assert {key: observed[key] for key in case["expect"]} == case["expect"]


@pytest.mark.parametrize("case", ERRORS, ids=[case["id"] for case in ERRORS])
def test_step_the_document_cannot_serve(case: dict[str, Any]) -> None:
    doc = DOC
    if "set" in case:
        content = yaml.safe_load((DATA / "orders.asyncapi.yaml").read_text())
        for path, value in case["set"].items():
            *parents, last = [t.replace("~1", "/").replace("~0", "~") for t in path.split("/")[1:]]
            node = content
            for token in parents:
                node = node[token]
            node[last] = value
        doc = AsyncApiDocument(content, "file:///orders.yaml")
    with pytest.raises(DocumentError) as caught:
        doc.target(**case["step"])
    if case["error"].startswith("/"):  # the location first, as a JSON Pointer
        assert str(caught.value).startswith(case["error"])
    else:
        assert case["error"] in str(caught.value)


def test_servers_substitute_variables_and_split_host_and_port() -> None:
    assert DOC.servers["broker"].endpoint.protocol == "mqtt"
    assert (DOC.servers["broker"].host, DOC.servers["broker"].port) == ("127.0.0.1", 1883)
    assert (DOC.servers["rabbit"].port, DOC.servers["rabbit"].pathname) == (None, "/")


@pytest.mark.parametrize("version", ["2.6.0", "1.0", ""])
def test_only_asyncapi_3_is_read(version: str) -> None:
    with pytest.raises(LoadError, match="not supported"):
        AsyncApiDocument({"asyncapi": version, "info": {}})


def test_a_correlation_id_that_refers_to_itself_is_refused() -> None:
    content = yaml.safe_load((DATA / "orders.asyncapi.yaml").read_text())
    content["components"]["correlationIds"]["byRequestId"] = {
        "$ref": "#/components/correlationIds/byRequestId"
    }
    with pytest.raises(DocumentError, match="refers to itself"):
        AsyncApiDocument(content).target(action="send", operation_id="placeOrder")


CORRELATION_CASES = [
    ("$message.header#/orderRequestId", {"orderRequestId": "r-1"}, b"{}", "r-1", True),
    ("$message.header#/orderrequestid", {"OrderRequestId": "r-1"}, b"{}", "r-1", True),
    ("$message.header#/orderRequestId", {"orderRequestId": "r-2"}, b"{}", "r-1", False),
    ("$message.header#/orderRequestId", {}, b'{"orderRequestId": "r-1"}', "r-1", False),
    ("$message.payload#/requestId", {}, b'{"requestId": "r-1"}', "r-1", True),
    ("$message.payload#/order/id", {}, b'{"order": {"id": 7}}', "7", True),
    ("$message.payload#/order/id", {}, b'{"order": {"id": 7}}', 7, True),
    ("$message.payload#/requestId", {}, b"not json", "r-1", False),
    ("$message.payload", {}, b"plain", "plain", True),
]


@pytest.mark.parametrize(("location", "headers", "payload", "expected", "matches"), CORRELATION_CASES)
def test_correlation_location(
    location: str, headers: dict[str, str], payload: bytes, expected: Any, matches: bool
) -> None:
    message = Message(address="a", headers=headers, payload=payload)
    assert CorrelationId.parse(location).matches(message, expected) is matches


@pytest.mark.parametrize("location", ["$message.body#/id", "$message.header.id", "$message.payload#id", "id"])
def test_correlation_location_outside_the_asyncapi_grammar(location: str) -> None:
    with pytest.raises(DocumentError, match="correlationId location"):
        CorrelationId.parse(location, "/components/messages/m/correlationId/location")


@pytest.mark.parametrize("protocol", ["kafka", "stomp", "redis"])
def test_unsupported_protocols_are_refused_by_name(protocol: str) -> None:
    with pytest.raises(BrokerError, match="protocol not supported") as caught:
        adapter_for(protocol)
    assert isinstance(caught.value, ArazzoError)


def test_the_runner_imports_no_broker_client_until_a_protocol_is_asked_for() -> None:
    code = (
        "import sys, totpflow.arazzo, totpflow.arazzo.asyncapi as a\n"
        "clients = ['aiomqtt', 'paho', 'aio_pika', 'aiormq', 'nats', 'websockets']\n"
        "print(sorted(c for c in clients if c in sys.modules))\n"
        "a.adapter_for('nats')\n"
        "print(sorted(c for c in clients if c in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.splitlines() == ["[]", "['nats']"]


def test_message_is_a_plain_struct() -> None:
    message = Message(address="a", headers={"k": "v"}, payload=b'{"x": 1}', content_type="application/json")
    assert msgspec.json.decode(msgspec.json.encode(message), type=Message) == message
    assert message.decoded() == {"x": 1}


def test_a_channel_parameter_is_written_as_json_writes_a_scalar_and_none_is_no_value() -> None:
    """``true`` and ``1.5`` as a header's value would be (not Python's ``True``); a parameter whose value is
    null (an optional input not given) has no value, rather than the text ``None`` in the address."""
    content = {
        "asyncapi": "3.0.0",
        "info": {"title": "t", "version": "1"},
        "channels": {
            "c": {"address": "a/{flag}/{n}", "parameters": {"flag": {"enum": [True, False]}, "n": {}}}
        },
    }
    document = AsyncApiDocument(content)
    target = document.target(action="send", channel_path="#/channels/c", parameters={"flag": True, "n": 1.5})
    assert target.address == "a/true/1.5"
    with pytest.raises(DocumentError, match="channel parameter 'flag' has no value"):
        document.target(action="send", channel_path="#/channels/c", parameters={"flag": None, "n": 1})
