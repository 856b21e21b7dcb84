"""Load an Arazzo document: read → version check → JSON Schema → frozen model → semantic checks.

``load_document`` accepts a file path or an http(s) URL. A document whose ``arazzo`` field is neither a 1.0.x
nor a 1.1.x version is refused with a ``LoadError``; otherwise it is checked by the schema and rules of the
minor version it declares (``versions.py``), and every structural problem, or else every semantic problem, is
raised at once as ``DocumentInvalid``. Checks that need the source descriptions live in
``totpflow.arazzo.sources``."""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec

from totpflow.arazzo.document.builder import build_document
from totpflow.arazzo.document.model import ArazzoDocument
from totpflow.arazzo.document.reader import absolute_url, load_data, without_fragment
from totpflow.arazzo.document.validate import check_semantics
from totpflow.arazzo.document.versions import document_root, minor_version, structural_problems
from totpflow.arazzo.errors import DocumentInvalid

if TYPE_CHECKING:
    import httpx


def load_document(
    ref: str, *, client: httpx.Client | None = None, references_as_warnings: bool = False
) -> ArazzoDocument:
    """Load and validate the Arazzo document at ``ref`` (a path, or a file/http/https URL).

    ``references_as_warnings``: report what expressions and steps refer to (``Findings.references``) as
    warnings, as a check of the document without its sources does."""
    url = without_fragment(absolute_url(ref))
    return document_from_data(
        load_data(url, client=client), url, references_as_warnings=references_as_warnings
    )


def document_from_data(data: object, url: str, *, references_as_warnings: bool = False) -> ArazzoDocument:
    """Validate already-parsed data as an Arazzo document loaded from ``url`` and build its model."""
    data = document_root(data)
    problems, early_warnings = structural_problems(data, minor_version(data))
    if problems:
        raise DocumentInvalid(problems, early_warnings)
    document = build_document(data, url)
    findings = check_semantics(document, references_as_warnings=references_as_warnings)
    warnings = [*early_warnings, *findings.warnings]
    if findings.problems:
        raise DocumentInvalid(findings.problems, warnings)
    return msgspec.structs.replace(document, warnings=tuple(warnings)) if warnings else document
