"""A clock for tests: aware UTC, moving only when told to."""

from __future__ import annotations

from datetime import datetime, timedelta


class FrozenClock:
    """A clock that only moves when told to."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)
