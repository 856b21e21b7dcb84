"""Arazzo documents: loading (YAML/JSON), JSON Schema and semantic validation, and the frozen model.

Public API::

    load_document(ref, *, client=None) -> ArazzoDocument      # LoadError | DocumentInvalid(problems)
    check_document(doc, sources) -> list[DocumentError]        # checks that need the loaded sources
    resolve_parameter / resolve_success_action / resolve_failure_action(doc, item)   # Reusable Objects
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from totpflow.arazzo.document.loader import load_document
from totpflow.arazzo.document.model import ArazzoDocument
from totpflow.arazzo.document.references import (
    resolve_failure_action,
    resolve_parameter,
    resolve_success_action,
)
from totpflow.arazzo.errors import DocumentError

if TYPE_CHECKING:
    from totpflow.arazzo.sources import SourceSet

__all__ = [
    "ArazzoDocument",
    "check_document",
    "load_document",
    "resolve_failure_action",
    "resolve_parameter",
    "resolve_success_action",
]


def check_document(doc: ArazzoDocument, sources: SourceSet) -> list[DocumentError]:
    """Problems only the sources reveal: unresolvable operations and workflows, parameters without a target.

    Warnings of the same pass are available from ``totpflow.arazzo.sources.check_sources``.
    """
    from totpflow.arazzo.sources import check_sources

    return check_sources(doc, sources).problems
