"""AsyncAPI steps (Arazzo 1.1 ``action: send | receive``) in the synchronous step loop.

The broker adapters are asyncio code; the engine is not. ``Messaging`` runs one event loop on a thread of its
own, started by the first async step of a run (an HTTP-only run starts nothing and imports no broker client),
and closes every connection when the run ends.

Decisions (``docs/conformance.md``, "AsyncAPI steps"):

- A receive step subscribes when its workflow starts, before any step of the workflow runs, so a message
  that an earlier step triggers (an HTTP call, a send step) is buffered until the receive step reads it. Its
  channel parameters are evaluated then; when one needs a value only an earlier step produces, the step
  subscribes before the first step that runs after that value exists. The subscription stays open until the
  workflow ends: a receive step that runs again (``retry``, ``goto``) reads the next matching message.
- The receive steps of a workflow run on one address (same source, server and bindings) share one
  subscription, and each message goes to one of them: the first step that waits for it takes it, and a
  message no step has taken stays for the steps after. So two receive steps correlating on the same id read
  the first and the second such message, not the first one twice (and an AMQP queue is consumed once, not
  shared round-robin between two consumers of the same run).
- A received message whose protocol carries no content type (NATS, WebSocket, MQTT 3.1.1, or a sender that
  set none) is read as the content type its channel's messages declare, when they declare one: a
  ``text/plain`` payload ``123`` is the text ``"123"``, not the number. Without a declaration the payload is
  JSON when it parses, else text.
- A receive step waits for the first message whose value at the message's AsyncAPI ``correlationId``
  location equals the step's ``correlationId``; other messages are skipped. It waits ``timeout``
  milliseconds (else the run's request timeout) and then fails, naming the channel and the correlation id.
- A send step publishes its ``requestBody.payload`` with its ``in: header`` parameters as headers (Arazzo
  allows ``correlationId`` on receive steps only: the author puts the id in a header or the payload); the
  report shows the value the sent message carries at its correlation location. ``$message`` in a send step's
  criteria and outputs is the message sent.
- A dynamic reply address (an operation whose ``reply.address.location`` is a runtime expression such as
  ``$message.header#/replyTo``): a receive step on that operation subscribes, when its workflow starts, to a
  fresh address the runner picks (``reply_address``: one per operation and workflow run, shared by its receive
  steps), and every send step of the workflow on the same operation writes that address at the location in
  the message it sends (replacing a value the step put there), so the application replies where the runner
  listens. A send step on an operation no receive step of its workflow waits on sends its message as written.
- Servers: the source's ``--server`` URL, else the first server of the channel with a supported protocol;
  credentials from that URL's user part, else the source's broker credentials (``--auth SOURCE=user:pass``
  or ``SOURCE=TOKEN``, or ``TOTPFLOW_AUTH_<SOURCE>``).
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable, Coroutine, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

import msgspec

from totpflow.arazzo.errors import ArazzoError, BrokerError, EvaluationError
from totpflow.arazzo.results import MessageRecord

if TYPE_CHECKING:
    from totpflow.arazzo.asyncapi import (
        AsyncTarget,
        Connections,
        CorrelationId,
        Credentials,
        Message,
        Receiver,
    )
    from totpflow.arazzo.document.model import ArazzoDocument, Step, Workflow
    from totpflow.arazzo.engine.context import StepContext
    from totpflow.arazzo.engine.plan import Plan, StepPlan
    from totpflow.arazzo.sources import SourceSet

T = TypeVar("T")


class _Feed:
    """One live subscription of a workflow run, shared by its receive steps on one address: each message goes
    to the first step that waits for it, and a message no step has taken yet stays for the steps after."""

    def __init__(self, receiver: Receiver) -> None:
        self.receiver = receiver
        self.unclaimed: list[Message] = []  # received, not yet taken by any step, in arrival order

    async def take(self, wanted: Callable[[Message], Message | None]) -> Message:
        """The first message, unclaimed or arriving, that ``wanted`` accepts (it returns the message as the
        step reads it, or None to leave it for another step)."""
        for index, message in enumerate(self.unclaimed):
            taken = wanted(message)
            if taken is not None:
                del self.unclaimed[index]
                return taken
        while True:
            message = await self.receiver.get()
            taken = wanted(message)
            if taken is not None:
                return taken
            self.unclaimed.append(message)


class _Subscription(msgspec.Struct):
    feed: Any  # _Feed, shared by the workflow run's receive steps on the same address
    target: Any  # AsyncTarget
    source: str
    server: str


class Messaging:
    """The broker side of one run: an event loop thread, one connection per server, open subscriptions."""

    def __init__(
        self,
        sources: SourceSet,
        plan: Plan,
        servers: Mapping[str, str],
        credentials: Mapping[str, tuple[str, str] | str],
        timeout: float = 30.0,
    ) -> None:
        self.sources = sources
        self.plan = plan
        self.servers = servers
        self.credentials = credentials
        self.timeout = timeout  # the run's request timeout: a subscription's bound when its step sets none
        # A subscription made early that the broker refused or did not confirm in time: the step's first
        # attempt fails with it rather than wait a second time.
        # With the seconds it took, which count as the step's time.
        self._failed: dict[tuple[str, str, str], tuple[ArazzoError, float]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._connections: Connections | None = None
        self._subscriptions: dict[tuple[str, str, str], _Subscription] = {}
        # (document, workflow, source, endpoint, address, bindings) → the subscription its receive steps share
        self._feeds: dict[tuple[Any, ...], tuple[_Feed, str]] = {}
        # (document, workflow, source, operation) → (the reply address picked, where a sent message has it)
        self._replies: dict[tuple[str, str, str, str], tuple[str, CorrelationId]] = {}

    # -- the loop -----------------------------------------------------------------------------------------

    def _call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        if self._loop is None:
            from totpflow.arazzo.asyncapi import Connections

            loop = asyncio.new_event_loop()
            thread = threading.Thread(target=loop.run_forever, name="totpflow-messaging", daemon=True)
            thread.start()
            self._loop, self._thread, self._connections = loop, thread, Connections()
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()

    def close(self) -> None:
        """Close every subscription and connection and stop the loop (nothing to do when none started)."""
        if self._loop is None:
            return
        feeds, self._feeds, self._subscriptions = self._feeds, {}, {}
        connections = self._connections

        async def shut() -> None:
            for feed, _ in feeds.values():
                await feed.receiver.close()
            if connections is not None:
                await connections.close()

        try:
            self._call(shut())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            if self._thread is not None:
                self._thread.join(5)
            self._loop.close()
            self._loop = None

    # -- targets ------------------------------------------------------------------------------------------

    def target(
        self, doc: ArazzoDocument, step: Step, channel_values: Mapping[str, Any]
    ) -> tuple[str, AsyncTarget]:
        where = self.sources.resolve_async(step, doc)
        assert where.source.asyncapi is not None
        try:
            target = where.source.asyncapi.target(
                action=str(step.action),
                operation_id=where.operation_id,
                channel_path=where.channel_path,
                parameters=channel_values,
            )
        except ArazzoError as exc:
            raise EvaluationError(where.location, str(exc)) from None
        return where.source.name, target

    def _import_client(self, source: str, target: AsyncTarget) -> None:
        from totpflow.arazzo.asyncapi import pick_endpoint
        from totpflow.arazzo.asyncapi.adapter import adapter_class

        adapter_class(pick_endpoint(target, self.servers.get(source)).protocol)

    async def _adapter(self, source: str, target: AsyncTarget) -> tuple[Any, str]:
        from totpflow.arazzo.asyncapi import Credentials, endpoint_from_url, pick_endpoint

        override = self.servers.get(source)
        endpoint = pick_endpoint(target, override)
        credentials: Credentials | None = endpoint_from_url(override)[1] if override else None
        if credentials is None and source in self.credentials:
            given = self.credentials[source]
            credentials = Credentials(token=given) if isinstance(given, str) else Credentials(*given)
        assert self._connections is not None
        adapter = await self._connections.adapter(endpoint, credentials)
        server = endpoint.host + (f":{endpoint.port}" if endpoint.port else "")
        return adapter, server

    # -- receive ------------------------------------------------------------------------------------------

    def subscribe_early(
        self, doc: ArazzoDocument, workflow: Workflow, ctx: StepContext, left: float | None = None
    ) -> None:
        """Subscribe every receive step of ``workflow`` not yet subscribed whose channel can be named now (see
        the module docstring); the others are tried again before the next step, or subscribe when they run.
        ``left``: the seconds left before an enclosing workflow step's timeout (None: no such step), which
        bounds each subscription too; with none left nothing is subscribed."""
        if left is not None and left <= 0:
            return
        for step in workflow.steps:
            key = (doc.url, workflow.workflow_id, step.step_id)
            if step.action != "receive" or key in self._subscriptions or key in self._failed:
                continue
            started = time.perf_counter()
            try:
                self._subscription(doc, workflow, step, self.plan.step(doc, workflow, step), ctx, left)
            except BrokerError as exc:
                self._failed[key] = (exc, time.perf_counter() - started)
            except ArazzoError:
                continue  # a channel value not known yet: tried again later, or reported when the step runs

    def failed_wait(self, doc: ArazzoDocument, workflow: Workflow, step: Step) -> float:
        """The seconds spent on ``step``'s subscription made when its workflow started, when that failed and
        the step's next attempt is to fail with it (0.0 otherwise): that wait is the step's."""
        found = self._failed.get((doc.url, workflow.workflow_id, step.step_id))
        return 0.0 if found is None else found[1]

    def _subscription(
        self,
        doc: ArazzoDocument,
        workflow: Workflow,
        step: Step,
        step_plan: StepPlan,
        ctx: StepContext,
        left: float | None,
    ) -> _Subscription:
        key = (doc.url, workflow.workflow_id, step.step_id)
        found = self._subscriptions.get(key)
        if found is not None:
            return found
        failed = self._failed.pop(key, None)
        if failed is not None:
            raise failed[0]
        source, target = self.target(doc, step, self._values(step_plan, ctx, "channel"))
        if target.address is None and target.reply_location is not None:
            target = msgspec.structs.replace(
                target, address=self._reply_address(doc, workflow, source, target)
            )
        if target.address is None:
            raise EvaluationError(step.location, f"channel {target.channel!r} has no address to subscribe to")
        address = target.address
        bindings = merged_bindings(target.channel_bindings, target.operation_bindings)
        feed_key = self._feed_key(doc, workflow, source, target, bindings)
        shared = self._feeds.get(feed_key)
        if shared is not None:
            found = self._subscriptions[key] = _Subscription(shared[0], target, source, shared[1])
            return found

        # The step's timeout, else the run's: a step whose timeout is 0 (a message already buffered) still
        # has its subscription made when the workflow starts. It bounds the broker, not importing its client.
        # Inside a timed workflow step the time left before its end bounds it as well.
        limit = step.timeout / 1000 if step.timeout else self.timeout
        if left is not None:
            limit = max(min(limit, left), 0.0)
        self._import_client(source, target)

        async def subscribe() -> tuple[Receiver, str]:
            try:
                async with asyncio.timeout(limit):  # connecting included: a silent broker holds no run
                    adapter, server = await self._adapter(source, target)
                    receiver: Receiver = await adapter.subscribe(address, bindings)
            except TimeoutError:
                protocol = _protocol(target, self.servers.get(source)) or "broker"
                within = round(limit, 3)
                raise BrokerError(
                    protocol, f"the subscription to {address!r} was not confirmed within {within:g} s"
                ) from None
            return receiver, server

        receiver, server = self._call(subscribe())
        feed = _Feed(receiver)
        self._feeds[feed_key] = (feed, server)
        found = self._subscriptions[key] = _Subscription(feed, target, source, server)
        return found

    def _feed_key(
        self,
        doc: ArazzoDocument,
        workflow: Workflow,
        source: str,
        target: AsyncTarget,
        bindings: Mapping[str, Any],
    ) -> tuple[Any, ...]:
        """What a receive step's subscription is shared by: the workflow run, the source, the broker it
        connects to, the address and the bindings it subscribes with."""
        from totpflow.arazzo.asyncapi import pick_endpoint

        endpoint = pick_endpoint(target, self.servers.get(source))
        shape = json.dumps(bindings, sort_keys=True, separators=(",", ":"), default=repr)
        return (doc.url, workflow.workflow_id, source, endpoint, target.address, shape)

    def _reply_address(
        self, doc: ArazzoDocument, workflow: Workflow, source: str, target: AsyncTarget
    ) -> str:
        """The address the runner listens on for the replies to ``target``'s operation in this workflow run,
        picked (fresh, in the protocol's form) by the first receive step that subscribes."""
        from totpflow.arazzo.asyncapi import CorrelationId, reply_address

        key = (doc.url, workflow.workflow_id, source, str(target.operation_id))
        found = self._replies.get(key)
        if found is None:
            assert target.reply_location is not None
            location = CorrelationId.parse(target.reply_location, f"operation {target.operation_id!r} reply")
            found = self._replies[key] = (
                reply_address(_protocol(target, self.servers.get(source))),
                location,
            )
        return found[0]

    def end_workflow(self, doc: ArazzoDocument, workflow: Workflow) -> None:
        """Close the subscriptions of a workflow that ended."""
        prefix = (doc.url, workflow.workflow_id)
        for failed in [key for key in self._failed if key[:2] == prefix]:  # a later run subscribes again
            del self._failed[failed]
        for reply in [key for key in self._replies if key[:2] == prefix]:
            del self._replies[reply]
        for ended in [key for key in self._subscriptions if key[:2] == prefix]:
            del self._subscriptions[ended]
        receivers = [self._feeds.pop(key)[0].receiver for key in list(self._feeds) if key[:2] == prefix]
        if receivers:

            async def close() -> None:
                for receiver in receivers:
                    await receiver.close()

            self._call(close())

    def receive(
        self,
        doc: ArazzoDocument,
        workflow: Workflow,
        step: Step,
        step_plan: StepPlan,
        ctx: StepContext,
        timeout: float,
        clock: Any,
        left: float | None = None,
    ) -> tuple[MessageRecord | None, Message | None, str | None]:
        """(record, message, failure): the correlated message, or why none came. ``left`` bounds a
        subscription made now as in :meth:`subscribe_early`."""
        from totpflow.arazzo.asyncapi.message import as_text

        subscription = self._subscription(doc, workflow, step, step_plan, ctx, left)
        target = subscription.target
        expected = None
        if step.correlation_id is not None:
            expected = self.plan.value(step, step.correlation_id, "correlationId").evaluate(ctx)
            if expected is None:  # no value to correlate on: taking any message would be another's
                raise EvaluationError(
                    step.location + "/correlationId", f"{step.correlation_id!r} has no value (null)"
                )
        correlations = target.correlations if expected is not None else ()
        if expected is not None and not correlations:
            raise EvaluationError(
                step.location + "/correlationId",
                f"the messages of channel {target.channel!r} declare no correlationId location",
            )
        declared = {m.content_type for m in target.messages if m.content_type}
        content_type = declared.pop() if len(declared) == 1 else None

        def accept(message: Message) -> Message | None:
            if content_type is not None and message.content_type is None:
                message = msgspec.structs.replace(message, content_type=content_type)
            if expected is None or any(c.matches(message, expected) for c in correlations):
                return message
            return None

        async def wait() -> Message:
            async with asyncio.timeout(timeout):
                taken: Message = await subscription.feed.take(accept)
                return taken

        started_at, begin = clock(), time.perf_counter()
        correlation_id = None if expected is None else as_text(expected)
        protocol = _protocol(target, self.servers.get(subscription.source))
        try:
            message = self._call(wait())
        except TimeoutError:
            wanted = f"with correlation id {correlation_id!r} " if expected is not None else ""
            awaited = MessageRecord(
                "receive",
                subscription.source,
                target.channel,
                target.address,
                protocol,
                subscription.server,
                {},
                None,
                None,
                correlation_id,
                started_at,
                (time.perf_counter() - begin) * 1000,
                timeout_ms=timeout * 1000,
                timed_out=True,
            )
            return (
                awaited,
                None,
                (
                    f"no message {wanted}arrived on channel {target.channel!r} "
                    f"({target.address}) within {timeout:g} s"
                ),
            )
        elapsed = (time.perf_counter() - begin) * 1000
        record = MessageRecord(
            "receive",
            subscription.source,
            target.channel,
            message.address,
            protocol,
            subscription.server,
            dict(message.headers),
            message.decoded(),
            message.content_type,
            correlation_id,
            started_at,
            elapsed,
            timeout_ms=timeout * 1000,
        )
        return record, message, None

    # -- send ---------------------------------------------------------------------------------------------

    def send(
        self,
        doc: ArazzoDocument,
        workflow: Workflow,
        step: Step,
        step_plan: StepPlan,
        ctx: StepContext,
        clock: Any,
        timeout: float | None = None,
    ) -> MessageRecord:
        """Publish the step's message; with ``timeout`` (seconds) the broker must take it in that time, else
        TimeoutError."""
        from totpflow.arazzo.asyncapi import Message, encode_payload, put
        from totpflow.arazzo.asyncapi.message import as_text
        from totpflow.arazzo.engine.request import with_replacements

        source, target = self.target(doc, step, self._values(step_plan, ctx, "channel"))
        if target.address is None:
            raise EvaluationError(step.location, f"channel {target.channel!r} has no address to publish to")
        headers = {name: as_text(value) for name, value in self._values(step_plan, ctx, "header").items()}
        body = step.request_body
        payload = None
        content_type = next((m.content_type for m in target.messages if m.content_type), None)
        if body is not None:
            content_type = body.content_type or content_type
            if body.has_payload:
                payload = with_replacements(
                    self.plan.value(body, body.payload).evaluate(ctx), body, content_type, ctx, self.plan
                )
        reply = self._replies.get((doc.url, workflow.workflow_id, source, str(target.operation_id)))
        if reply is not None and target.operation_id is not None:  # where the application is to reply
            try:
                headers, payload = put(reply[1], headers, payload, reply[0])
            except EvaluationError as exc:
                raise EvaluationError(
                    step.location,
                    f"the reply address cannot be written at {reply[1].location}: {exc.message}",
                ) from None
        address = target.address
        encoded = encode_payload(payload, content_type)
        # the sent message's own value at its correlation location (the author puts it in a header or the
        # payload; Arazzo allows ``correlationId`` on receive steps only)
        sent = Message(address, headers, encoded, content_type)
        found = next((c.value(sent) for c in target.correlations), None)
        correlation_id = None if found is None else as_text(found)
        bindings = merged_bindings(target.channel_bindings, target.operation_bindings)

        async def publish() -> str:
            adapter, server = await self._adapter(source, target)
            try:
                await adapter.publish(address, headers, encoded, content_type=content_type, bindings=bindings)
            except BrokerError:
                assert self._connections is not None
                await self._connections.discard(adapter)  # a broker that went away: connect again next time
                raise
            return server

        async def publish_in_time() -> str:
            async with asyncio.timeout(timeout):
                return await publish()

        self._import_client(source, target)  # the timeout bounds the broker, not importing its client
        started_at, begin = clock(), time.perf_counter()
        server = self._call(publish() if timeout is None else publish_in_time())
        return MessageRecord(
            "send",
            source,
            target.channel,
            address,
            _protocol(target, self.servers.get(source)),
            server,
            headers,
            payload,
            content_type,
            correlation_id,
            started_at,
            (time.perf_counter() - begin) * 1000,
        )

    def _values(self, step_plan: StepPlan, ctx: StepContext, kind: str) -> dict[str, Any]:
        return {
            p.name: self.plan.value(p, p.value).evaluate(ctx) for p in step_plan.parameters if p.in_ == kind
        }


def merged_bindings(channel: Mapping[str, Any], operation: Mapping[str, Any]) -> dict[str, Any]:
    """A channel's bindings with its operation's over them, per protocol and per field: an operation's
    ``amqp`` binding (``expiration``) keeps the channel's (``exchange``, ``queue``)."""
    merged = dict(channel)
    for protocol, fields in operation.items():
        below = merged.get(protocol)
        if isinstance(below, Mapping) and isinstance(fields, Mapping):
            merged[protocol] = {**below, **fields}
        else:
            merged[protocol] = fields
    return merged


def _protocol(target: AsyncTarget, override: str | None) -> str:
    from totpflow.arazzo.asyncapi import pick_endpoint

    try:
        return pick_endpoint(target, override).protocol
    except ArazzoError:
        return ""
