"""A worker of ``serve --workers N`` ends with its supervisor, and at once when stopped before it serves.

uvicorn's supervisor stops its workers when it is stopped, but a supervisor killed outright (``kill -9``, the
OOM killer) cannot: its workers would go on serving as orphans, holding the port, so that no new server can
start on it. The supervisor names itself in ``SUPERVISOR_PID_ENV``; each worker watches for its parent to
change (an orphan is adopted by another process) and then stops itself as SIGTERM stops it, finishing the
requests it holds.

uvicorn's worker notes a SIGTERM that comes while it loads the app and acts on it only once the app is
loaded and started, seconds later when many workers start together. A worker loads the app through
``create_worker_app``, during which SIGINT or SIGTERM ends it at once, with exit code 0: it serves nothing
yet, so nothing is lost. From the moment the app is loaded, uvicorn's own handling applies (the requests a
worker holds are finished).
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from starlette.applications import Starlette

SUPERVISOR_PID_ENV: Final = "TOTPFLOW_SUPERVISOR_PID"
CHECK_EVERY_SECONDS: Final = 1.0
STOP_SIGNALS: Final = (signal.SIGINT, signal.SIGTERM)


def watch_supervisor(environ: dict[str, str] | None = None) -> threading.Thread | None:
    """In a worker whose supervisor is named in the environment, a daemon thread that sends this process
    SIGTERM once its parent is no longer that supervisor; None elsewhere (a single server has no
    supervisor, and must not end with the shell that started it)."""
    # Read once, and not handed down: a process this worker starts has no supervisor of its own.
    supervisor = (os.environ if environ is None else environ).pop(SUPERVISOR_PID_ENV, "")
    if not supervisor.isdigit():
        return None
    expected = int(supervisor)

    def watch() -> None:
        stop = threading.Event()
        while os.getppid() == expected:  # a worker still starting when its supervisor died stops at once
            if stop.wait(CHECK_EVERY_SECONDS):
                return
        os.kill(os.getpid(), signal.SIGTERM)

    thread = threading.Thread(target=watch, name="totpflow-supervisor-watch", daemon=True)
    thread.start()
    return thread


def create_worker_app() -> Starlette:
    """uvicorn's factory in each worker of ``serve --workers N``: ``create_app_from_env``, loaded so that a
    stop signal ends the worker at once (``ending_at_once_while_loading``)."""
    with ending_at_once_while_loading():
        from totpflow.server.app import create_app_from_env

        return create_app_from_env()


@contextmanager
def ending_at_once_while_loading() -> Iterator[None]:
    """SIGINT and SIGTERM end the process at once (``SystemExit(0)``) within the block; one noted already by
    the handler in place (uvicorn's worker notes it in ``should_exit``) ends it on entry. The handlers in
    place are restored when the block ends."""
    installed = {sig: signal.getsignal(sig) for sig in STOP_SIGNALS}
    if any(
        getattr(getattr(handler, "__self__", None), "should_exit", False) is True
        for handler in installed.values()
    ):
        raise SystemExit(0)

    def end(signum: int, frame: FrameType | None) -> Any:
        raise SystemExit(0)

    for sig in STOP_SIGNALS:
        signal.signal(sig, end)
    try:
        yield
    finally:
        for sig, handler in installed.items():
            signal.signal(sig, handler)
