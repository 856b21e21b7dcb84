"""An AsyncAPI 3.0 / 3.1 document as a runner reads it: servers, channels, operations, messages and their
correlation ids, with local ``$ref``s followed by the ``referencing`` library.

``target(action=…, operation_id=… | channel_path=…)`` turns an Arazzo step into what to do on the wire. An
AsyncAPI operation's ``action`` is what the *described application* does; an Arazzo step's ``action`` is what
the *runner* does, so the two are usually opposite (an application that receives orders is sent orders by the
workflow). The mapping:

==============  ===========================  =================================================================
Arazzo action   target                       the runner
==============  ===========================  =================================================================
send            operation (either action)    publishes to the operation's channel
receive         operation with ``reply``     subscribes to the reply channel's address, or — when the reply
                                             address is dynamic (``reply.address.location``) — to the address
                                             the runner put into the message it sent (``reply_location``)
receive         operation without ``reply``  subscribes to the operation's channel
send / receive  ``channelPath``              publishes to / subscribes to that channel
==============  ===========================  =================================================================

``AsyncTarget.same_direction`` is true when the runner does what the application itself does (it simulates
the application); that is allowed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import msgspec
from referencing import Registry, Specification
from referencing.exceptions import Unresolvable

from totpflow.arazzo.asyncapi.adapter import Endpoint
from totpflow.arazzo.asyncapi.message import CorrelationId, as_text
from totpflow.arazzo.errors import DocumentError, LoadError, OperationNotFound
from totpflow.arazzo.expressions import pointer

ADDRESS_PARAMETER = re.compile(r"\{([^{}]+)\}")  # a `{name}` of a channel address (or a server URL)
#: A channel parameter's value in ``target(parameters=…)`` that only the run will know (a runtime expression):
#: the address keeps its ``{name}``, and nothing is checked against the parameter's ``enum``.
GIVEN_AT_RUN_TIME: Any = object()
_DEFAULT_URI = "urn:totpflow:asyncapi"


class Server(msgspec.Struct, frozen=True):
    name: str
    protocol: str
    host: str
    port: int | None
    pathname: str = ""
    protocol_version: str | None = None

    @property
    def endpoint(self) -> Endpoint:
        return Endpoint(self.protocol, self.host, self.port, self.pathname)


class MessageSpec(msgspec.Struct, frozen=True):
    key: str
    name: str | None
    content_type: str | None
    correlation: CorrelationId | None
    headers: Any = None  # the JSON Schema of the application headers, as written
    payload: Any = None


class AsyncTarget(msgspec.Struct, frozen=True):
    """What an Arazzo step does on the wire. ``address`` is ``None`` only when the reply address is dynamic
    (``reply_location`` then says where in the sent message the runner put it)."""

    action: str  # send | receive: what the runner does
    address: str | None
    channel: str  # the channel's key (or JSON Pointer for a channel outside #/channels)
    servers: tuple[Server, ...]
    messages: tuple[MessageSpec, ...]
    operation_id: str | None = None
    reply_location: str | None = None
    same_direction: bool = False
    channel_bindings: dict[str, Any] = {}
    operation_bindings: dict[str, Any] = {}

    @property
    def correlations(self) -> tuple[CorrelationId, ...]:
        """The distinct correlation-id locations of the candidate messages."""
        seen: dict[str, CorrelationId] = {}
        for message in self.messages:
            if message.correlation is not None:
                seen.setdefault(message.correlation.location, message.correlation)
        return tuple(seen.values())


class AsyncApiDocument:
    def __init__(self, content: Any, url: str = "") -> None:
        if not isinstance(content, Mapping):
            raise LoadError("", "an AsyncAPI document must be an object")
        version = str(content.get("asyncapi", ""))
        if not re.fullmatch(r"3\.[01]\.\d+", version):
            raise LoadError(
                "/asyncapi", f"AsyncAPI version {version or '(none)'!r} is not supported (3.0.x, 3.1.x)"
            )
        self.content = content
        self.url = url
        self.version = version
        uri = url or _DEFAULT_URI
        resource = Specification.OPAQUE.create_resource(content)
        self._resolver = Registry().with_resource(uri, resource).resolver(base_uri=uri)
        self.servers: dict[str, Server] = {
            name: self._server(name, node) for name, node in _mapping(content.get("servers")).items()
        }

    # -- references -------------------------------------------------------------------------------------

    def deref(self, node: Any, where: str) -> Any:
        """``node`` with any chain of ``$ref`` followed (local references only)."""
        seen: set[str] = set()
        while isinstance(node, Mapping) and isinstance(node.get("$ref"), str):
            ref = node["$ref"]
            if ref in seen:
                raise DocumentError(where, f"$ref {ref!r} refers to itself")
            seen.add(ref)
            try:
                node = self._resolver.lookup(ref).contents
            except Unresolvable:
                raise DocumentError(where, f"$ref {ref!r} does not resolve") from None
        return node

    # -- servers ----------------------------------------------------------------------------------------

    def _server(self, name: str, raw: Any) -> Server:
        where = f"/servers/{pointer.escape(name)}"
        node = _mapping(self.deref(raw, where))
        variables = _mapping(node.get("variables"))

        def substitute(text: str) -> str:
            def value(match: re.Match[str]) -> str:
                variable = _mapping(self.deref(variables.get(match.group(1)), where))
                if "default" not in variable:
                    raise DocumentError(where, f"server variable {match.group(1)!r} has no default")
                return str(variable["default"])

            return ADDRESS_PARAMETER.sub(value, text)

        protocol = node.get("protocol")
        if not isinstance(protocol, str) or not isinstance(node.get("host"), str):
            raise DocumentError(where, "a server needs a host and a protocol")
        host = substitute(node["host"])
        parts = urlsplit(f"//{host}")
        try:
            port = parts.port
        except ValueError:
            raise DocumentError(where, f"server host {host!r} has an invalid port") from None
        version = node.get("protocolVersion")
        return Server(
            name=name,
            protocol=protocol.lower(),
            host=parts.hostname or host,
            port=port,
            pathname=substitute(str(node.get("pathname") or "")),
            protocol_version=str(version) if version is not None else None,
        )

    # -- steps → wire -----------------------------------------------------------------------------------

    @property
    def operation_ids(self) -> tuple[str, ...]:
        return tuple(_mapping(self.content.get("operations")))

    def target(
        self,
        *,
        action: str,
        operation_id: str | None = None,
        channel_path: str | None = None,
        parameters: Mapping[str, Any] | None = None,
    ) -> AsyncTarget:
        """What a step with this ``action`` (send | receive) on ``operation_id`` (a key of ``operations``) or
        ``channel_path`` (``…#/channels/<key>``, the part before ``#`` is ignored) does. ``parameters``
        fill the channel address's ``{name}`` expressions (else each Parameter Object's ``default``)."""
        if action not in ("send", "receive"):
            raise DocumentError("", f"action {action!r} is neither 'send' nor 'receive'")
        if (operation_id is None) == (channel_path is None):
            raise DocumentError("", "give exactly one of operationId and channelPath")
        params = parameters or {}
        if channel_path is not None:
            fragment = channel_path.split("#", 1)[1] if "#" in channel_path else channel_path
            where = fragment
            channel = _mapping(self.deref({"$ref": "#" + fragment}, where))
            address = self._address(channel, params, where)
            return AsyncTarget(
                action=action,
                address=address,
                channel=_channel_key(fragment),
                servers=self._servers_of(channel, where),
                messages=self._messages(_mapping(channel.get("messages")), where + "/messages"),
                channel_bindings=dict(_mapping(self.deref(channel.get("bindings"), where + "/bindings"))),
            )
        operations = _mapping(self.content.get("operations"))
        assert operation_id is not None
        if operation_id not in operations:
            raise OperationNotFound("", f"operation {operation_id!r} is not in the AsyncAPI document")
        where = f"/operations/{pointer.escape(operation_id)}"
        operation = _mapping(self.deref(operations[operation_id], where))
        channel_ref = _mapping(operation.get("channel")).get("$ref")
        if not isinstance(channel_ref, str):
            raise DocumentError(
                where + "/channel", "an operation's channel must be a $ref to a Channel Object"
            )
        channel = _mapping(self.deref(operation["channel"], where + "/channel"))
        channel_at = channel_ref.partition("#")[2]  # where the channel is, as a JSON Pointer
        declared = operation.get("action")
        if declared not in ("send", "receive"):
            raise DocumentError(
                where + "/action",
                f"an operation's action is 'send' or 'receive' (AsyncAPI 3), not {declared!r}"
                + (" (the AsyncAPI 2 publish/subscribe)" if declared in ("publish", "subscribe") else ""),
            )
        same = declared == action
        bindings = dict(_mapping(self.deref(operation.get("bindings"), where)))
        reply = _mapping(self.deref(operation.get("reply"), where + "/reply"))
        if action == "receive" and reply:
            return self._reply_target(operation_id, reply, params, where + "/reply", same, bindings)
        listed = operation.get("messages")
        messages = (
            self._messages(listed, where + "/messages")
            if isinstance(listed, list)
            else self._messages(_mapping(channel.get("messages")), channel_at + "/messages")
        )
        return AsyncTarget(
            action=action,
            address=self._address(channel, params, channel_at),
            channel=_channel_key(channel_at),
            servers=self._servers_of(channel, channel_at),
            messages=messages,
            operation_id=operation_id,
            same_direction=same,
            channel_bindings=dict(_mapping(self.deref(channel.get("bindings"), channel_at + "/bindings"))),
            operation_bindings=bindings,
        )

    def _reply_target(
        self,
        operation_id: str,
        reply: Mapping[str, Any],
        params: Mapping[str, Any],
        where: str,
        same: bool,
        bindings: dict[str, Any],
    ) -> AsyncTarget:
        channel_ref = _mapping(reply.get("channel")).get("$ref")
        channel = _mapping(self.deref(reply.get("channel"), where + "/channel")) if channel_ref else {}
        channel_at = str(channel_ref).partition("#")[2] if channel_ref else where
        address_node = _mapping(self.deref(reply.get("address"), where + "/address"))
        location = address_node.get("location") if isinstance(address_node.get("location"), str) else None
        listed = reply.get("messages")
        messages = (
            self._messages(listed, where + "/messages")
            if isinstance(listed, list)
            else self._messages(_mapping(channel.get("messages")), channel_at + "/messages")
        )
        if location is None and not channel:
            raise DocumentError(where, "a reply needs a channel or an address")
        return AsyncTarget(
            action="receive",
            address=None if location is not None else self._address(channel, params, channel_at),
            channel=_channel_key(channel_at) if channel_ref else "",
            servers=self._servers_of(channel, channel_at),
            messages=messages,
            operation_id=operation_id,
            reply_location=location,
            same_direction=same,
            channel_bindings=dict(_mapping(self.deref(channel.get("bindings"), channel_at + "/bindings"))),
            operation_bindings=bindings,
        )

    def _address(self, channel: Mapping[str, Any], params: Mapping[str, Any], where: str) -> str:
        address = channel.get("address")
        if address is None:
            raise DocumentError(where, "the channel's address is unknown (null); it cannot be published to")
        declared = _mapping(channel.get("parameters"))

        def value(match: re.Match[str]) -> str:
            name = match.group(1)
            spec = _mapping(self.deref(declared.get(name), f"{where}/parameters/{pointer.escape(name)}"))
            # A value is written as JSON writes a scalar (true, 1.5), as a header's is; text as it is.
            if name in params:
                if params[name] is GIVEN_AT_RUN_TIME:
                    return match.group(0)
                if params[name] is None:
                    raise DocumentError(where, f"channel parameter {name!r} has no value")
                given = as_text(params[name])
            elif "default" in spec:
                given = as_text(spec["default"])
            else:
                raise DocumentError(where, f"channel parameter {name!r} has no value and no default")
            enum = spec.get("enum")
            if isinstance(enum, list) and given not in [as_text(v) for v in enum]:
                raise DocumentError(where, f"channel parameter {name!r}: {given!r} is not one of {enum}")
            return given

        return ADDRESS_PARAMETER.sub(value, str(address))

    def _servers_of(self, channel: Mapping[str, Any], where: str) -> tuple[Server, ...]:
        listed = channel.get("servers")
        if not isinstance(listed, list) or not listed:
            return tuple(self.servers.values())
        found: list[Server] = []
        for entry in listed:
            ref = _mapping(entry).get("$ref")
            name = _last_token(ref.partition("#")[2]) if isinstance(ref, str) else None
            if name not in self.servers:
                raise DocumentError(where + "/servers", f"server reference {ref!r} does not resolve")
            found.append(self.servers[name])
        return tuple(found)

    def _messages(self, entries: Mapping[str, Any] | list[Any], where: str) -> tuple[MessageSpec, ...]:
        """The Message Objects of a channel's ``messages`` map or an operation's or reply's list, at ``where``
        (the map's or list's own location)."""
        default_type = self.content.get("defaultContentType")
        found: list[MessageSpec] = []
        items = entries.items() if isinstance(entries, Mapping) else enumerate(entries)
        for token, entry in items:
            at = f"{where}/{pointer.escape(str(token))}"
            ref = _mapping(entry).get("$ref")
            key = str(ref).rsplit("/", 1)[-1] if isinstance(ref, str) else str(token)
            node = _mapping(self.deref(entry, at))
            correlation_node = _mapping(self.deref(node.get("correlationId"), f"{at}/correlationId"))
            location = correlation_node.get("location")
            correlation = (
                CorrelationId.parse(location, f"{at}/correlationId/location")
                if isinstance(location, str)
                else None
            )
            content_type = node.get("contentType", default_type)
            found.append(
                MessageSpec(
                    key=key,
                    name=node.get("name") if isinstance(node.get("name"), str) else None,
                    content_type=content_type if isinstance(content_type, str) else None,
                    correlation=correlation,
                    headers=node.get("headers"),
                    payload=node.get("payload"),
                )
            )
        return tuple(found)


def _channel_key(fragment: str) -> str:
    tokens = _tokens(fragment)
    if len(tokens) == 2 and tokens[0] == "channels":
        return tokens[1]
    return fragment


def _tokens(fragment: str) -> tuple[str, ...]:
    """The reference tokens of a ``$ref``'s fragment; none when it is not a JSON Pointer."""
    try:
        return pointer.split_fragment(fragment)
    except pointer.PointerError:
        return ()


def _last_token(fragment: str) -> str | None:
    tokens = _tokens(fragment)
    return tokens[-1] if tokens else None


def _mapping(node: Any) -> Mapping[str, Any]:
    return node if isinstance(node, Mapping) else {}
