"""A check that runs inside the first transaction a unit of work opens on a store, before any of its
statements (``Storage.first_transaction_check``).

The server authenticates a request from what it remembers of the project (no I/O), and confirms that memory
in the request's own first transaction: :func:`first_transaction_check` registers the check for the current
context (thread or task) and one store, whose ``transaction`` runs it right after ``BEGIN``
(:func:`run_pending`), once. A check that raises rolls that transaction back before it has done anything.
:func:`pending` tells whether it has run yet, so a caller whose work opened no transaction can still confirm
before it answers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from totpflow.server.storage.protocol import Transaction

Check = Callable[["Transaction"], None]

_pending: ContextVar[tuple[object, Check] | None] = ContextVar(
    "totpflow_first_transaction_check", default=None
)


@contextmanager
def first_transaction_check(owner: object, check: Check) -> Iterator[None]:
    """Within the block, run ``check(tx)`` at the start of the next transaction ``owner`` (a store) opens in
    this context."""
    token = _pending.set((owner, check))
    try:
        yield
    finally:
        _pending.reset(token)


def pending(owner: object) -> bool:
    registered = _pending.get()
    return registered is not None and registered[0] is owner


def run_pending(owner: object, tx: Transaction) -> None:
    """Called by ``owner.transaction`` after ``BEGIN``: run the check registered for it, if any, once."""
    registered = _pending.get()
    if registered is not None and registered[0] is owner:
        _pending.set(None)
        registered[1](tx)
