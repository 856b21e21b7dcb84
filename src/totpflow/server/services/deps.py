"""The collaborators every service takes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from totpflow.server.crypto import Cipher
from totpflow.server.policy import Policy
from totpflow.server.rate_limits import RateCounters
from totpflow.server.storage.protocol import Storage


@dataclass(frozen=True)
class Deps:
    store: Storage
    clock: Callable[[], datetime]  # aware UTC; ``totpflow.server.crypto.utc_now`` in production
    cipher: Cipher
    policy: Policy = field(default_factory=Policy)
    counters: RateCounters | None = None  # where rate limits count; None: the store (rate_counters table)

    def now(self) -> datetime:
        """The clock's time, truncated to whole seconds: Stytch's timestamps have second precision, and
        storing what is shown keeps stored and returned values equal."""
        return self.clock().replace(microsecond=0)
