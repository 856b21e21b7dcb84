"""AsyncAPI 3.0 / 3.1 sources and the brokers behind them, for Arazzo steps with ``action: send | receive``.

- ``AsyncApiDocument`` (``document``): servers, channels, operations and messages of an AsyncAPI document;
  ``target(action=…, operation_id=… | channel_path=…)`` says where a step publishes or subscribes.
- ``Adapter`` (``adapter``): one interface over the brokers, one implementation per protocol, each behind an
  optional extra and imported only when used — MQTT 5 (``totpflow[mqtt]``), AMQP 0-9-1 (``[amqp]``), NATS
  (``[nats]``), WebSocket (``[ws]``) and HTTP (send only). ``adapter_for(protocol)`` picks one.
- ``Message`` / ``CorrelationId`` (``message``): a message on the wire and the AsyncAPI correlation-id
  location that picks it out.
- ``Connections`` / ``pick_endpoint`` / ``endpoint_from_url`` / ``encode_payload`` (``connections``): which
  server a target uses (or a ``--server``-style override URL), one connected adapter per server.
- ``receive`` (``receive``): subscribe, run the trigger, wait for the correlated message or ReceiveTimeout.

Kafka is not offered: no Kafka broker can run where this is tested.
"""

from totpflow.arazzo.asyncapi.adapter import Adapter, Credentials, Endpoint, Receiver, adapter_for
from totpflow.arazzo.asyncapi.connections import (
    Connections,
    encode_payload,
    endpoint_from_url,
    pick_endpoint,
    reply_address,
)
from totpflow.arazzo.asyncapi.document import AsyncApiDocument, AsyncTarget, MessageSpec, Server
from totpflow.arazzo.asyncapi.message import CorrelationId, Message, put
from totpflow.arazzo.asyncapi.receive import receive

__all__ = [
    "Adapter",
    "AsyncApiDocument",
    "AsyncTarget",
    "Connections",
    "CorrelationId",
    "Credentials",
    "Endpoint",
    "Message",
    "MessageSpec",
    "Receiver",
    "Server",
    "adapter_for",
    "encode_payload",
    "endpoint_from_url",
    "pick_endpoint",
    "put",
    "receive",
    "reply_address",
]
