"""Load an Arazzo document: read → version check → JSON Schema → frozen model → semantic checks.

``load_document`` accepts a file path or an http(s) URL. A document whose ``arazzo`` field is not a 1.0.x
version (``^1\\.0\\.\\d+(-.+)?$``; 1.0.1 §4.8.1: tooling SHOULD NOT distinguish patch versions) is refused
with a ``LoadError``; otherwise every schema problem, or else every semantic problem, is raised at once as
``DocumentInvalid``. Checks that need the source descriptions live in ``totpflow.arazzo.sources``.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import msgspec

from totpflow.arazzo.document.builder import build_document
from totpflow.arazzo.document.model import ArazzoDocument
from totpflow.arazzo.document.reader import absolute_url, load_data, without_fragment
from totpflow.arazzo.document.schema import schema_problems
from totpflow.arazzo.document.validate import check_semantics
from totpflow.arazzo.errors import DocumentInvalid, LoadError

if TYPE_CHECKING:
    import httpx

_VERSION = re.compile(r"^1\.0\.\d+(-.+)?$")


def load_document(ref: str, *, client: httpx.Client | None = None) -> ArazzoDocument:
    """Load and validate the Arazzo document at ``ref`` (a path, or a file/http/https URL)."""
    url = without_fragment(absolute_url(ref))
    return document_from_data(load_data(url, client=client), url)


def document_from_data(data: object, url: str) -> ArazzoDocument:
    """Validate already-parsed data as an Arazzo document loaded from ``url`` and build its model."""
    if not isinstance(data, dict):
        raise LoadError("", f"an Arazzo document is a mapping, not {type(data).__name__}")
    version = data.get("arazzo")
    if not isinstance(version, str) or not _VERSION.match(version):
        found = repr(version) if version is not None else "missing"
        raise LoadError("/arazzo", f"unsupported Arazzo version {found}: this runner reads 1.0.x documents")
    problems = schema_problems(data)
    if problems:
        raise DocumentInvalid(problems)
    document = build_document(data, url)
    findings = check_semantics(document)
    if findings.problems:
        raise DocumentInvalid(findings.problems, findings.warnings)
    return (
        msgspec.structs.replace(document, warnings=tuple(findings.warnings))
        if findings.warnings
        else document
    )
