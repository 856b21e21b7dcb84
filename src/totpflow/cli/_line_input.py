"""Reading a line typed at the terminal so that Ctrl-C always interrupts it.

Python runs a signal's handler (SIGINT: raise ``KeyboardInterrupt``) in the main thread, between bytecodes
or when a blocking system call returns with EINTR. A SIGINT that arrives after the interpreter's last check
but before ``read()`` has started, or one that the kernel hands to another thread of the process (the
embedded server's), interrupts no system call: the handler then waits for ``read()`` to return, which at a
prompt is never. ``read_line`` therefore waits in ``select()`` on the terminal and on the signal wake-up
descriptor (``signal.set_wakeup_fd``), to which the C-level signal handler writes a byte whenever and in
whichever thread the signal arrives; the handler itself then runs before the next wait.
"""

from __future__ import annotations

import os
import select
import signal
import threading
from typing import TextIO


def read_line(stream: TextIO) -> str:
    """One line typed at the terminal ``stream`` (with its newline; ``""`` at end of input). A signal whose
    handler raises (SIGINT) interrupts the wait whenever it arrives."""
    if os.name != "posix" or threading.current_thread() is not threading.main_thread():
        return stream.readline()  # select() on a terminal, and set_wakeup_fd, are POSIX main-thread only
    fd = stream.fileno()
    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_read, False)
    os.set_blocking(wake_write, False)
    previous = signal.set_wakeup_fd(wake_write, warn_on_full_buffer=False)
    try:
        # A signal that came before the line above is handled on return from that call; every later one
        # writes to the pipe, so select() below returns at once.
        while True:
            ready, _, _ = select.select([fd, wake_read], [], [])
            if wake_read in ready:
                _drain(wake_read)
                continue  # the handler runs before the next call: KeyboardInterrupt ends the loop
            # A terminal in canonical mode hands over at most one line per read.
            return os.read(fd, 65536).decode(stream.encoding or "utf-8", "replace")
    finally:
        signal.set_wakeup_fd(previous)
        os.close(wake_read)
        os.close(wake_write)


def _drain(fd: int) -> None:
    try:
        while os.read(fd, 512):
            pass
    except BlockingIOError:
        pass
