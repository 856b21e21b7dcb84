"""The brokers a run talks to: which server a target uses (the source's override URL, else the first server of
the channel whose protocol has an adapter), one connected adapter per server, all closed together; and a
payload encoded for the wire."""

from __future__ import annotations

import json
import uuid
from typing import Any
from urllib.parse import unquote, urlsplit

from totpflow.arazzo.asyncapi.adapter import Adapter, Credentials, Endpoint, adapter_for, supported_protocols
from totpflow.arazzo.asyncapi.document import AsyncTarget
from totpflow.arazzo.errors import BrokerError, UsageError


def endpoint_from_url(url: str) -> tuple[Endpoint, Credentials | None]:
    """``mqtt://user:pw@127.0.0.1:1883`` → its endpoint (and credentials when the URL carries a user)."""
    parts = urlsplit(url)
    if not parts.scheme or not parts.hostname:
        raise UsageError(f"broker URL {url!r} needs a protocol and a host, e.g. mqtt://127.0.0.1:1883")
    try:
        port = parts.port
    except ValueError:
        raise UsageError(f"broker URL {url!r} has an invalid port") from None
    credentials = None
    if parts.username is not None:
        credentials = Credentials(unquote(parts.username), unquote(parts.password or "") or None)
    return Endpoint(parts.scheme.lower(), parts.hostname, port, parts.path), credentials


def pick_endpoint(target: AsyncTarget, override: str | None = None) -> Endpoint:
    """The override URL's endpoint, else the first of the target's servers whose protocol has an adapter."""
    if override is not None:
        return endpoint_from_url(override)[0]
    for server in target.servers:
        if server.protocol in supported_protocols():
            return server.endpoint
    offered = ", ".join(f"{s.name} ({s.protocol})" for s in target.servers) or "none"
    raise BrokerError(target.channel, f"no server with a supported protocol (servers: {offered})")


class Connections:
    """One connected adapter per endpoint, made on first use; ``close`` closes them all."""

    def __init__(self) -> None:
        self._adapters: dict[Endpoint, Adapter] = {}

    async def adapter(self, endpoint: Endpoint, credentials: Credentials | None = None) -> Adapter:
        found = self._adapters.get(endpoint)
        if found is None:
            if credentials is not None and credentials.token is not None and endpoint.protocol != "nats":
                raise BrokerError(
                    endpoint.protocol, "a token credential is for NATS; this broker takes user:password"
                )
            found = adapter_for(endpoint.protocol)
            await found.connect(endpoint, credentials)
            self._adapters[endpoint] = found
        return found

    async def discard(self, adapter: Adapter) -> None:
        """Close and forget ``adapter``: its connection failed, so the next use of its endpoint (a retry, a
        later step) connects again."""
        for endpoint in [endpoint for endpoint, found in self._adapters.items() if found is adapter]:
            del self._adapters[endpoint]
        try:
            await adapter.close()
        except Exception:  # the connection is already broken; closing it is only tidying up
            pass

    async def close(self) -> None:
        adapters, self._adapters = self._adapters, {}
        for adapter in adapters.values():
            try:
                await adapter.close()
            except Exception:  # closing the rest matters more than a connection that is already gone
                pass


def encode_payload(value: Any, content_type: str | None) -> bytes:
    """Bytes as they are, text as UTF-8 unless the content type is JSON, anything else as JSON. With a JSON
    content type, text that is JSON is sent as written (a JSON string template, as in an HTTP request body),
    other text as a JSON string."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        if not (content_type and "json" in content_type.lower()):
            return value.encode()
        try:
            json.loads(value)
        except ValueError:
            return json.dumps(value, separators=(",", ":")).encode()
        return value.encode()
    return json.dumps(value, separators=(",", ":")).encode()


def reply_address(protocol: str) -> str:
    """A fresh address for a reply the runner waits on (an operation whose ``reply.address`` is dynamic):
    dot-separated for AMQP routing keys and NATS subjects, slash-separated for MQTT topics and WebSocket
    paths."""
    unique = uuid.uuid4().hex
    return f"totpflow.reply.{unique}" if protocol in ("amqp", "amqps", "nats") else f"totpflow/reply/{unique}"
