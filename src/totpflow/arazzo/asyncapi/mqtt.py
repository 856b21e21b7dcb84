"""MQTT 5 adapter (``totpflow[mqtt]``: aiomqtt, on paho-mqtt).

Application headers travel as MQTT 5 user properties and the content type as the ``ContentType`` property
(MQTT 3.1.1 has neither). Publishing uses QoS 1 unless the operation's ``mqtt`` binding says otherwise, so
``publish`` returns once the broker acknowledged it (PUBACK). Each subscription has its own client connection:
``subscribe`` returns after the broker's SUBACK, so the subscription is live.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Mapping
from typing import Any

import aiomqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from totpflow.arazzo.asyncapi.adapter import (
    Credentials,
    Endpoint,
    QueueReceiver,
    Receiver,
    binding,
    cancel,
    pump,
)
from totpflow.arazzo.asyncapi.message import Message
from totpflow.arazzo.errors import BrokerError


class MqttAdapter:
    carries_headers = True

    def __init__(self, protocol: str = "mqtt") -> None:
        self.protocol = protocol
        self._endpoint: Endpoint | None = None
        self._credentials: Credentials | None = None
        self._publisher: aiomqtt.Client | None = None

    async def connect(self, endpoint: Endpoint, credentials: Credentials | None = None) -> None:
        self._endpoint, self._credentials = endpoint, credentials
        self._publisher = await self._open()

    async def _open(self) -> aiomqtt.Client:
        if self._endpoint is None:
            raise BrokerError(self.protocol, "not connected")
        secure = self.protocol in ("secure-mqtt", "mqtts")
        creds = self._credentials or Credentials()
        client = aiomqtt.Client(
            self._endpoint.host,
            self._endpoint.port or (8883 if secure else 1883),
            username=creds.username,
            password=creds.password,
            identifier=f"totpflow-{uuid.uuid4().hex[:12]}",
            protocol=aiomqtt.ProtocolVersion.V5,
            tls_params=aiomqtt.TLSParameters() if secure else None,
            timeout=10,
        )
        try:
            await client.__aenter__()
        except aiomqtt.MqttError as exc:  # refused, or not acknowledged within the client's own timeout
            await _abandon(client)
            raise BrokerError(self.protocol, f"cannot connect to {self._endpoint.host}: {exc}") from None
        except BaseException:  # cancelled (a step's timeout) while the broker had not acknowledged yet
            await _abandon(client)
            raise
        return client

    async def subscribe(self, address: str, bindings: Mapping[str, Any] | None = None) -> Receiver:
        self._check_topic(address, subscribing=True)
        client = await self._open()
        receiver = QueueReceiver(self.protocol, address)
        receiver.on_close(lambda: client.__aexit__(None, None, None))
        try:
            await client.subscribe(address, qos=int(binding(bindings, "mqtt").get("qos", 1)))
        except aiomqtt.MqttError as exc:
            await _abandon(client)
            raise BrokerError(self.protocol, f"cannot subscribe to {address!r}: {exc}") from None
        except BaseException:  # cancelled (a step's timeout) before the broker acknowledged (SUBACK)
            await _abandon(client)
            raise
        task = asyncio.create_task(pump(receiver, lambda: _read(client, receiver)))
        receiver.on_close(lambda: cancel(task))
        return receiver

    async def publish(
        self,
        address: str,
        headers: Mapping[str, str],
        payload: bytes,
        *,
        content_type: str | None = None,
        bindings: Mapping[str, Any] | None = None,
    ) -> None:
        if self._publisher is None:
            raise BrokerError(self.protocol, "not connected")
        self._check_topic(address, subscribing=False)
        self._check_strings(headers, content_type)
        properties = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        if headers:
            properties.UserProperty = [(str(k), str(v)) for k, v in headers.items()]
        if content_type:
            properties.ContentType = content_type
        options = binding(bindings, "mqtt")
        try:
            await self._publisher.publish(
                address,
                payload,
                qos=int(options.get("qos", 1)),
                retain=bool(options.get("retain", False)),
                properties=properties,
            )
        except aiomqtt.MqttError as exc:
            raise BrokerError(self.protocol, f"cannot publish to {address!r}: {exc}") from None

    def _check_topic(self, address: str, *, subscribing: bool) -> None:
        """``BrokerError`` for an address that is no MQTT topic (MQTT 5 §4.7): empty, with a control
        character (a broker drops the connection over it), or with a wildcard where one may not be: none in
        a topic published to; in a filter, ``#`` only as the whole last level, ``+`` only as a whole level."""
        problem = None
        if not address or len(address.encode("utf-8", "surrogatepass")) > 65535:
            problem = "empty or longer than 65,535 bytes"
        elif _has_control_character(address):
            problem = "it contains a control character"
        elif not subscribing and ("+" in address or "#" in address):
            problem = "a topic published to contains no wildcard (+ or #)"
        elif subscribing:
            levels = address.split("/")
            for index, level in enumerate(levels):
                if ("+" in level and level != "+") or ("#" in level and level != "#"):
                    problem = "a wildcard (+ or #) is a whole level of a topic filter"
                elif level == "#" and index != len(levels) - 1:
                    problem = "'#' is only the last level of a topic filter"
        if problem is not None:
            raise BrokerError(self.protocol, f"{address!r} is no MQTT topic: {problem}")

    def _check_strings(self, headers: Mapping[str, str], content_type: str | None) -> None:
        """``BrokerError`` for a header name or value, or a content type, with a control character (tab, CR
        and LF included): MQTT 5 strings should hold none (§1.5.4), and a broker drops the connection over one
        rather than refuse the message. The error names the header, never its value."""
        for name, value in headers.items():
            if _has_control_character(name) or _has_control_character(value):
                raise BrokerError(
                    self.protocol,
                    f"header {name!r} cannot be sent over MQTT: "
                    "its name or value contains a control character",
                )
        if content_type and _has_control_character(content_type):
            raise BrokerError(self.protocol, "the content type contains a control character")

    async def close(self) -> None:
        if self._publisher is not None:
            publisher, self._publisher = self._publisher, None
            try:
                await publisher.__aexit__(None, None, None)
            except aiomqtt.MqttError:
                pass


def _has_control_character(text: str) -> bool:
    return any(ord(char) < 0x20 or 0x7F <= ord(char) < 0xA0 for char in text)


async def _read(client: aiomqtt.Client, receiver: QueueReceiver) -> None:
    async for incoming in client.messages:
        props = incoming.properties
        user = getattr(props, "UserProperty", None) or []
        content_type = getattr(props, "ContentType", None)
        raw = incoming.payload
        body = raw if isinstance(raw, bytes | bytearray) else str(raw if raw is not None else "").encode()
        receiver.put(
            Message(
                address=incoming.topic.value,
                headers={str(k): str(v) for k, v in user},
                payload=bytes(body),
                content_type=content_type,
            )
        )


async def _abandon(client: aiomqtt.Client) -> None:
    """Drop a client whose connect or subscription did not complete, at once: its socket is closed (which
    takes its reader and writer off the event loop and cancels its housekeeping task), nothing is sent and
    nothing is waited for. A graceful disconnect would wait for a broker that has not answered so far (aiomqtt
    waits for an acknowledgement of a connection it never saw made), on the time of the step that gave up on
    it; and a socket left open is closed later by paho's finalizer, on an event loop that may be closed by
    then. These are aiomqtt's and paho's private parts (aiomqtt 2.3 to 2.5): each is looked up, so a release
    without one leaves that part to the client's own close, as before, never an error."""
    await asyncio.sleep(0)  # what the connecting thread handed to the loop (the socket's reader) runs first
    paho = getattr(client, "_client", None)
    with contextlib.suppress(Exception):
        paho._reset_sockets()  # type: ignore[union-attr]
    misc = getattr(client, "_misc_task", None)
    if isinstance(misc, asyncio.Task) and not misc.done():
        misc.cancel()
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await misc
    lock = getattr(client, "_lock", None)
    if isinstance(lock, asyncio.Lock) and lock.locked():
        lock.release()
