"""Arazzo documents: loading (YAML/JSON), JSON Schema and semantic validation, and the frozen model.

Public API::

    load_document(ref, *, client=None) -> ArazzoDocument      # LoadError | DocumentInvalid(problems)
    resolve_parameter / resolve_success_action / resolve_failure_action(doc, item)   # Reusable Objects

Checks that need the loaded source descriptions are in the layer above: ``totpflow.arazzo.sources``
(``check_sources``).
"""

from __future__ import annotations

from totpflow.arazzo.document.loader import load_document
from totpflow.arazzo.document.model import ArazzoDocument
from totpflow.arazzo.document.references import (
    resolve_failure_action,
    resolve_parameter,
    resolve_success_action,
)

__all__ = [
    "ArazzoDocument",
    "load_document",
    "resolve_failure_action",
    "resolve_parameter",
    "resolve_success_action",
]
