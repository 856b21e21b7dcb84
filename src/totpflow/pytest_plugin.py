"""The fixtures of the ``totpflow`` pytest plugin (registered through ``totpflow.testing``): a fresh server
per test, an official SDK client for it and the current TOTP code of a secret."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from totpflow.testing import StytchServer, current_totp, run_server


@pytest.fixture
def totpflow_server(tmp_path: Path) -> Iterator[StytchServer]:
    """A fresh ``totpflow serve`` process with its own store and project."""
    with run_server(tmp_path) as server:
        yield server


@pytest.fixture
def stytch_client(totpflow_server: StytchServer) -> Any:
    """An official ``stytch.Client`` pointed at :func:`totpflow_server`."""
    return totpflow_server.client()


@pytest.fixture
def totp_code() -> Callable[[str], str]:
    """``totp_code(secret)`` → the current 6-digit code for a base32 secret."""
    return current_totp
