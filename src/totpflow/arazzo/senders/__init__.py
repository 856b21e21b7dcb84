"""The engine's HTTP seam: a request as built for the wire, the reply, and the ``Sender`` that carries them.

A ``Sender`` builds a request (``build``: the method, URL and header fields exactly as they go out) and
sends it (``send``: a ``Reply`` with the body read, or ``HttpFailure`` for a timeout or a connection, TLS or
protocol error). The engine sees nothing else of the HTTP client, so any client can sit behind it:

- ``HttpxSender`` (``senders.httpx_sender``) wraps an ``httpx.Client``: what library callers and tests inject
  (e.g. ``httpx.MockTransport``), with all that httpx does (TLS with certifi's CA bundle, proxies from the
  environment, connection pooling).
- ``PlainSender`` (``senders.plain``) sends plain ``http://`` requests with the standard library's
  ``http.client`` on kept-alive connections, nothing more.
- ``RoutingSender`` (the default of ``Loaded.run`` and ``totpflow run``) sends plain ``http://`` requests with
  a ``PlainSender`` when no proxy is configured in the environment, and everything else (``https``, proxied
  requests) with httpx, imported on the first such request. Importing httpx costs a ``totpflow run`` more
  than the requests of a typical workflow against a local server.

``senders.transport.new_client`` is the ``httpx.Client`` used when the caller injects none (by the routing
sender, and for reading remote documents): its TLS set-up waits for the first ``https`` request; with a
proxy in the environment (``senders.proxies``) it is httpx's own client, which routes through it.
"""

from totpflow.arazzo.senders.proxies import proxies_configured
from totpflow.arazzo.senders.routing import RoutingSender, as_sender
from totpflow.arazzo.senders.wire import HttpFailure, Outgoing, Reply, Sender

__all__ = ["HttpFailure", "Outgoing", "Reply", "RoutingSender", "Sender", "as_sender", "proxies_configured"]
