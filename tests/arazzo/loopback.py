"""A real HTTP server on a loopback port for the runner's tests: ``http.server`` in a thread."""

from __future__ import annotations

import contextlib
import ssl
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@contextlib.contextmanager
def serve(handler: type[BaseHTTPRequestHandler], *, tls: ssl.SSLContext | None = None) -> Iterator[str]:
    """Serve ``handler`` on 127.0.0.1 (over TLS with ``tls``) until the block ends; yields the base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    scheme = "http"
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
        scheme = "https"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"{scheme}://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def trickle(handler: BaseHTTPRequestHandler, response: bytes, gap: float = 0.05) -> None:
    """Write ``response`` (status line, header fields, body) one byte every ``gap`` seconds, each in time for
    a per-read timeout; stop when the client gives up."""
    try:
        for index in range(len(response)):
            handler.wfile.write(response[index : index + 1])
            handler.wfile.flush()
            time.sleep(gap)
    except OSError:  # the client gave up
        pass
