"""An app served by uvicorn on a loopback port from a thread of the test process: real HTTP, with the app's
objects (its deps, monkeypatched functions) still reachable from the test."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

import uvicorn


@contextmanager
def serving(app: Any, *, lifespan: Literal["on", "off"], http: Any = "auto") -> Iterator[str]:
    """Serve ``app`` until the block ends; yields its base URL. ``lifespan="on"`` runs the app's start-up and
    shutdown as ``totpflow serve`` does; ``http``: uvicorn's HTTP protocol (a class, or its name)."""
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan=lifespan, http=http)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:  # startup takes milliseconds; the thread reports through this flag
        if not thread.is_alive():
            raise RuntimeError("the in-process server did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
