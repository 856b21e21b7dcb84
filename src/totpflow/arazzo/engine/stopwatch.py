"""The run's clock for the timings it reports: time spent waiting for a person at a prompt is left out.

Inputs are resolved lazily, so a prompt can open in the middle of a step (the TOTP code asked for after the
QR code an earlier step returned). The time someone takes to type is not the API's, so step, workflow and run
timings count only the time the runner was working: ``now()`` is the injected timer minus every paused span.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator


class Stopwatch:
    def __init__(self, timer: Callable[[], float]) -> None:
        self._timer = timer
        self._paused = 0.0

    def now(self) -> float:
        """Seconds on the timer, less every paused span so far."""
        return self._timer() - self._paused

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """The block's duration is not counted (a prompt waiting for a person)."""
        start = self._timer()
        try:
            yield
        finally:
            self._paused += self._timer() - start
