"""Service calls run on the caller's own thread when none of their writes would wait (``Store.run_inline``).

The server hands each service call from its event loop to a thread, and the hand-off is not free: on the
build machines, sequential requests cost about 260 µs more CPU each through a thread than on the loop (two
thread wake-ups and the GIL passed back and forth; BENCHMARKS.md, "Server targets of issue 14: latest
run"). A call that opens at most one SQLite write transaction, not a durable one, gains nothing from the
thread when that transaction can begin at once: it holds the GIL for its whole run either way. So such a
call is first tried on the caller's thread, under these rules:

* its first write transaction must begin without waiting long: the process's write lock within
  ``INLINE_LOCK_WAIT`` (another of its threads holds it for one transaction; a durable one, through its
  fsync, took about 0.5 ms on the build machines, and waiting for it measured faster than handing the call
  to a thread that waits in turn), SQLite's lock at once (a dedicated connection with ``busy_timeout=0``:
  another process holding it answers "busy" rather than making the loop sleep);
* that transaction must not be durable (its fsync would stall the loop);
* otherwise the attempt stops before anything was written, with :class:`WouldWait`, and the caller runs the
  call in a thread as usual. Read-only transactions take no write lock and run as usual; a first write
  that rolls back wrote nothing, so the next one is held to the same rules;
* the inline connection does not checkpoint the WAL (that syncs files): every ``INLINE_CHECKPOINT_EVERY``
  inline commits, a thread does.

A write transaction after the attempt's first one runs as usual too (it may wait): the calls the server
tries inline (``totpflow.server.services.ONE_TRANSACTION``) open at most one, which a test keeps true.
"""

from __future__ import annotations

from contextvars import ContextVar, Token
from dataclasses import dataclass
from typing import Final

from totpflow.server.storage.protocol import WouldWait

__all__ = ["INLINE_LOCK_WAIT", "Attempt", "WouldWait", "begin", "current", "end"]

INLINE_LOCK_WAIT: Final = 0.002  # seconds an inline write waits for another thread of the process
INLINE_CHECKPOINT_EVERY: Final = 100  # inline commits between WAL checkpoints (a thread runs them)


@dataclass
class Attempt:
    wrote: bool = False  # a write transaction of this attempt has begun (later ones run as usual)


_current: ContextVar[Attempt | None] = ContextVar("totpflow_inline_attempt", default=None)


def begin() -> Token[Attempt | None]:
    return _current.set(Attempt())


def end(token: Token[Attempt | None]) -> None:
    _current.reset(token)


def current() -> Attempt | None:
    """The inline attempt running in this context, if any."""
    return _current.get()
