"""What every test directory shares."""

from __future__ import annotations

import compileall
from pathlib import Path

import pytest

import totpflow


def pytest_configure(config: pytest.Config) -> None:
    """Byte-compile the package once, as an install does. The tests start hundreds of processes (the CLI,
    servers) that each import it afresh; where the environment says not to write byte code
    (``PYTHONDONTWRITEBYTECODE``), every one of them would compile each module from source again, about
    0.1 s of CPU a process here. Nothing is written for a module whose byte code is current, or where the
    folder is read-only (the processes then compile, as before)."""
    compileall.compile_dir(Path(totpflow.__file__).parent, quiet=2)
