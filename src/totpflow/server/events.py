"""Things the core does that an operator counts (a user locked out …), told to whoever listens.

The core stays free of any metrics library: it calls :func:`report`; ``totpflow.server.http.metrics`` listens
and counts. Listeners are per process and must be quick and never raise.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final, Literal

Event = Literal["user_locked"]
USER_LOCKED: Final = "user_locked"  # failed attempts reached the threshold and locked a user

_listeners: list[Callable[[Event], None]] = []


def listen(listener: Callable[[Event], None]) -> None:
    """Call ``listener`` with every event reported in this process from now on."""
    if listener not in _listeners:
        _listeners.append(listener)


def report(event: Event) -> None:
    for listener in _listeners:
        listener(event)
