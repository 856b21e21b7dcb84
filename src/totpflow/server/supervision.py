"""A worker of ``serve --workers N`` ends with its supervisor.

uvicorn's supervisor stops its workers when it is stopped, but a supervisor killed outright (``kill -9``, the
OOM killer) cannot: its workers would go on serving as orphans, holding the port, so that no new server can
start on it. The supervisor names itself in ``SUPERVISOR_PID_ENV``; each worker watches for its parent to
change (an orphan is adopted by another process) and then stops itself as SIGTERM stops it, finishing the
requests it holds.
"""

from __future__ import annotations

import os
import signal
import threading
from typing import Final

SUPERVISOR_PID_ENV: Final = "TOTPFLOW_SUPERVISOR_PID"
CHECK_EVERY_SECONDS: Final = 1.0


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
