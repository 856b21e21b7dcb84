"""The supervisor of ``serve --workers N``: uvicorn's, answering SIGINT and SIGTERM as they come.

uvicorn's supervisor queues a stop signal and reads its queue between rounds of health checks, in which it
asks each worker in turn whether it is alive and waits up to ``timeout_worker_healthcheck`` (5 s) for each
answer. A worker that is still starting answers only once its interpreter has loaded, so a stop sent while
the workers start waited for them, the longer the more workers share the CPUs (over 10 s for 16 workers on
two). Here a stop signal ends the round at once: no worker is started, judged, killed or replaced once the
server is stopping, and the workers are sent SIGTERM at the next turn of the loop (half a second at most).

A worker still loading the app ends at once on SIGTERM (``totpflow.server.supervision.create_worker_app``);
one that serves finishes its requests first.
"""

from __future__ import annotations

import logging
import pickle
import signal
import socket
import time
from types import FrameType
from typing import Final

from uvicorn.config import STARTUP_FAILURE, Config
from uvicorn.supervisors.multiprocess import Multiprocess, Process

from totpflow.server.supervision import STOP_SIGNALS

logger = logging.getLogger("uvicorn.error")

# How often a health check waiting for a worker's answer looks for a stop signal.
STOP_CHECK_SECONDS: Final = 0.05


class Supervisor(Multiprocess):
    """``uvicorn.supervisors.Multiprocess`` whose health checks give way to a stop signal."""

    stop_signalled: bool = False

    def __init__(self, config: Config, sockets: list[socket.socket]) -> None:
        super().__init__(config, sockets)
        for sig in STOP_SIGNALS:
            signal.signal(sig, self.on_stop_signal)

    def on_stop_signal(self, sig: int, frame: FrameType | None) -> None:
        """Noted at once; uvicorn's handler (``handle_term``, ``handle_int``) acts on it from the queue."""
        self.stop_signalled = True
        self.signal_queue.append(sig)

    def init_processes(self) -> None:
        """uvicorn's: start the workers; none once a stop is signalled."""
        for _ in range(self.processes_num):
            if self.stop_signalled:
                return
            process = Process(self.config, self.sockets)
            process.start()
            self.processes.append(process)

    def answers(self, process: Process) -> bool | None:
        """Whether the worker answers a health check in time (uvicorn's ``Process.is_alive``); None when a
        stop signal came while waiting for it."""
        if not process.process.is_alive():
            return False
        deadline = time.monotonic() + self.config.timeout_worker_healthcheck
        try:
            process.parent_conn.send(b"ping")
            while not process.parent_conn.poll(STOP_CHECK_SECONDS):
                if self.stop_signalled:
                    return None
                if time.monotonic() >= deadline:
                    return False
            process.parent_conn.recv()
        except (OSError, EOFError, pickle.UnpicklingError):
            return False
        return True

    def keep_subprocess_alive(self) -> None:
        """uvicorn's: a worker that does not answer is killed and replaced, and one that failed to start
        stops the server; nothing of it once a stop is signalled."""
        for index, process in enumerate(self.processes):
            if self.should_exit.is_set() or self.stop_signalled:
                return
            answer = self.answers(process)
            if answer is None:
                return
            if answer:
                continue
            process.kill()  # it hangs
            process.join()
            if process.exitcode == STARTUP_FAILURE:
                # the app, or the socket, is broken: every new worker would fail the same way
                logger.error(f"Child process [{process.pid}] failed to start, stopping the parent process.")
                self.should_exit.set()
                return
            if self.stop_signalled:
                return
            logger.info(f"Child process [{process.pid}] died")
            replacement = Process(self.config, self.sockets)
            replacement.start()
            self.processes[index] = replacement
