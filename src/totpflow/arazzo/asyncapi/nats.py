"""NATS adapter (``totpflow[nats]``: nats-py). Application headers travel as NATS headers (server 2.2 and
later); NATS has no content-type field. ``publish`` returns once the server has the message, and
``subscribe`` once the subscription is live (see ``_processed``). The channel's ``nats`` binding ``queue``
makes it a queue-group subscription."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from typing import Any

import nats
import nats.aio.client
import nats.aio.msg
import nats.errors

from totpflow.arazzo.asyncapi.adapter import Credentials, Endpoint, QueueReceiver, Receiver, binding, cancel
from totpflow.arazzo.asyncapi.message import Message
from totpflow.arazzo.errors import BrokerError

_FAILURES = (nats.errors.Error, OSError, TimeoutError)
ABANDON_SECONDS = 2.0  # bound on closing a client whose connect was abandoned


class NatsAdapter:
    carries_headers = True

    def __init__(self, protocol: str = "nats") -> None:
        self.protocol = protocol
        self._client: nats.aio.client.Client | None = None
        self._receivers: set[QueueReceiver] = set()  # open subscriptions, ended if the connection ends

    async def connect(self, endpoint: Endpoint, credentials: Credentials | None = None) -> None:
        creds = credentials or Credentials()
        token = creds.token
        if token is None and creds.username and creds.password is None:
            token = creds.username  # nats://TOKEN@host: a user part without a password is a token (NATS URLs)
        failed: asyncio.Future[Exception] = asyncio.get_running_loop().create_future()

        async def on_error(error: Exception) -> None:  # nats-py keeps retrying a refused first connection
            if not failed.done():
                failed.set_result(error)

        async def on_closed() -> None:  # the server hung up (no reconnecting): no message can come now
            for receiver in list(self._receivers):
                receiver.end("the connection closed")

        client = nats.aio.client.Client()
        connecting = asyncio.ensure_future(
            client.connect(
                servers=[f"nats://{endpoint.host}:{endpoint.port or 4222}"],
                user=None if token is not None else creds.username,
                password=None if token is not None else creds.password,
                token=token,
                connect_timeout=5,
                allow_reconnect=False,
                max_reconnect_attempts=0,
                error_cb=on_error,
                disconnected_cb=on_closed,
            )
        )
        waiting: set[asyncio.Future[Any]] = {connecting, failed}
        try:
            await asyncio.wait(waiting, timeout=10, return_when=asyncio.FIRST_COMPLETED)
        except BaseException:  # cancelled (a step's timeout): the connection being made goes with it
            await _abandon(client, connecting)
            raise
        if connecting.done() and connecting.exception() is None:
            self._client = client
            return
        await _abandon(client, connecting)
        cause: BaseException | None = failed.result() if failed.done() else None
        if cause is None and connecting.done() and not connecting.cancelled():
            cause = connecting.exception()
        reason = (str(cause) or type(cause).__name__) if cause is not None else "timed out"
        raise BrokerError(self.protocol, f"cannot connect to {endpoint.host}: {reason}")

    def _require(self) -> nats.aio.client.Client:
        if self._client is None:
            raise BrokerError(self.protocol, "not connected")
        return self._client

    async def subscribe(self, address: str, bindings: Mapping[str, Any] | None = None) -> Receiver:
        client = self._require()
        receiver = QueueReceiver(self.protocol, address)
        self._receivers.add(receiver)

        async def forget() -> None:
            self._receivers.discard(receiver)

        receiver.on_close(forget)

        async def deliver(incoming: nats.aio.msg.Msg) -> None:
            receiver.put(
                Message(address=incoming.subject, headers=dict(incoming.headers or {}), payload=incoming.data)
            )

        try:
            subscription = await client.subscribe(
                address, queue=str(binding(bindings, "nats").get("queue", "")), cb=deliver
            )
            receiver.on_close(subscription.unsubscribe)
            await _processed(client)
        except _FAILURES as exc:
            await receiver.close()
            raise BrokerError(self.protocol, f"cannot subscribe to {address!r}: {exc}") from None
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
        client = self._require()
        tokens = address.split(".")
        if any(not token or token in ("*", ">") or token != "".join(token.split()) for token in tokens):
            raise BrokerError(
                self.protocol,
                f"cannot publish to {address!r}: a subject published to is dot-separated tokens, none empty, "
                "none a wildcard (* or >), no white space",
            )
        for name, value in headers.items():
            if not name or "\r" in value or "\n" in value:
                raise BrokerError(
                    self.protocol,
                    f"header {name!r} cannot be sent over NATS: "
                    + ("its name is empty" if not name else "its value contains a line break"),
                )
        try:
            await client.publish(address, payload, headers=dict(headers) or None)
            await _processed(client)
        except _FAILURES as exc:
            raise BrokerError(self.protocol, f"cannot publish to {address!r}: {exc}") from None

    async def close(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.close()


async def _processed(client: nats.aio.client.Client) -> None:
    """Return once the server has processed every command queued so far. nats-py's ``flush`` writes its
    PING straight to the socket, ahead of the commands still queued for its flusher task, so one PONG does not
    cover them. The flusher writes them during that first round trip; the second PING follows them on the
    wire, and the server answers it only after it has processed them."""
    await client.flush()
    await client.flush()


async def _abandon(client: nats.aio.client.Client, connecting: asyncio.Future[None]) -> None:
    """Stop a connect nobody waits for any more, and close whatever of the client it had opened."""
    if not connecting.done():
        await cancel(connecting)  # type: ignore[arg-type]
    with contextlib.suppress(Exception, asyncio.CancelledError):
        await asyncio.wait_for(client.close(), ABANDON_SECONDS)
