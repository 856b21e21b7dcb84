"""Whether the environment names a proxy, as httpx would honour it (read before httpx is imported)."""

from __future__ import annotations

import os
from typing import Any

_PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy")


def proxies_configured(environ: Any = os.environ) -> bool:
    """Whether the environment names a proxy (``HTTP_PROXY``, ``HTTPS_PROXY``, ``ALL_PROXY``, any case)."""
    return any(environ.get(name) or environ.get(name.upper()) for name in _PROXY_VARIABLES)
