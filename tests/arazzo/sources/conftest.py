"""The seed workflow beside Stytch's upstream consumer OpenAPI, laid out as the repository ships them."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
UPSTREAM = ROOT.parent / "shared" / "reference" / "stytch-consumer-openapi.upstream.yml"


@pytest.fixture(scope="session")
def seed_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``arazzo/totp-enrollment.arazzo.yaml`` with ``../openapi/stytch-consumer-openapi.yml`` beside it."""
    if not UPSTREAM.is_file():
        pytest.skip(f"the upstream Stytch OpenAPI is not at ../shared/reference ({UPSTREAM.name})")
    base = tmp_path_factory.mktemp("seed")
    (base / "arazzo").mkdir()
    (base / "openapi").mkdir()
    shutil.copy(ROOT / "arazzo" / "totp-enrollment.arazzo.yaml", base / "arazzo")
    shutil.copy(UPSTREAM, base / "openapi" / "stytch-consumer-openapi.yml")
    return base / "arazzo" / "totp-enrollment.arazzo.yaml"
