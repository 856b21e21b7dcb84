"""Fixtures of the reliability suites. The server helpers of ``tests/server/http/serverkit.py`` are reused
(importable from here by putting that directory on ``sys.path``)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "server" / "http"))

from serverkit import BACKENDS, Backend, start

# The hostile-input and isolation suites send many refused attempts for one user id within a minute; the
# per-user rate limit (tested on its own in tests/server) would turn some into 429s and blur what these
# suites compare, so their servers run without it.
NO_RATE_LIMITS = {"TOTPFLOW_RATE_LIMIT_USER": "off", "TOTPFLOW_RATE_LIMIT_PROJECT": "off"}


@pytest.fixture(scope="module", params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backend]:
    """One server per test module and backend, as ``serverkit.backend``, without rate limits."""
    with start(request.param, tmp_path_factory.mktemp(request.param), NO_RATE_LIMITS) as running:
        yield running
