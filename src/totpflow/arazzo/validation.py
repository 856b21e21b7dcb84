"""Validate an Arazzo document in rounds: what ``totpflow validate`` reports and what ``load`` refuses.

Rounds, in order; each runs only once every earlier one is clean, since a later round's findings about a
document whose structure is wrong would be noise (an unresolved operation of a step the schema rejects):

1. ``read``       the text parses (YAML or JSON) into a mapping of an Arazzo version this runner reads
                  (1.0.x or 1.1.x; ``document.versions``)
2. ``schema``     every structural problem: the JSON Schema of the minor version the document declares, and
                  in a 1.0 document every 1.1-only feature (``document.versions.structural_problems``)
3. ``semantics``  every document-local problem: unique ids, action and ``dependsOn`` targets, Reusable
                  Objects, and every runtime expression — its syntax and what it names: a declared input, a
                  step and the outputs it declares, a workflow, a component, a source (``document.validate``)
4. ``sources``    every source description that cannot be read or is not what it claims to be
5. ``operations`` every ``operationId`` / ``operationPath`` / source-qualified ``workflowId`` that does not
                  resolve in the sources (``sources.check``)

Within a round every problem is reported, in document order, each at its JSON Pointer location; warnings
accumulate over the rounds that ran. ``skip_sources`` stops after the semantic round and reports what
expressions and steps refer to as warnings (``Findings.references``), since without the sources a document
may be checked in part. ``ROUNDS`` names the rounds; the version-specific rules live in the rounds that read
``State.minor`` (the schema and the semantic rules), so a new minor version extends those and keeps the rest.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from totpflow.arazzo.errors import DocumentError, DocumentInvalid, LoadError

if TYPE_CHECKING:
    import httpx

    from totpflow.arazzo.document.model import ArazzoDocument
    from totpflow.arazzo.sources import SourceSet

RoundName = Literal["read", "schema", "semantics", "sources", "operations"]


@dataclass
class _State:
    """What the rounds build up: the parsed data, then the document model, then the loaded sources."""

    ref: str
    client: httpx.Client | None
    skip_sources: bool = False
    url: str = ""
    minor: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    document: ArazzoDocument | None = None
    sources: SourceSet | None = None
    warnings: list[str] = field(default_factory=list)


Round = Callable[[_State], list[DocumentError]]


def _read(state: _State) -> list[DocumentError]:
    from totpflow.arazzo.document.reader import absolute_url, load_data, without_fragment
    from totpflow.arazzo.document.versions import document_root, minor_version

    try:
        state.url = without_fragment(absolute_url(state.ref))
        from totpflow.arazzo.document.identity import mapped

        data = document_root(load_data(mapped(state.url), client=state.client))
        state.minor = minor_version(data)
    except LoadError as exc:
        return [exc]
    state.data = data
    return []


def _schema(state: _State) -> list[DocumentError]:
    from totpflow.arazzo.document.versions import structural_problems

    problems, warnings = structural_problems(state.data, state.minor)
    state.warnings.extend(warnings)
    return problems


def _semantics(state: _State) -> list[DocumentError]:
    import msgspec

    from totpflow.arazzo.document.builder import build_document
    from totpflow.arazzo.document.validate import check_semantics

    document = build_document(state.data, state.url)
    findings = check_semantics(document, references_as_warnings=state.skip_sources)
    state.warnings.extend(findings.warnings)
    if state.warnings:
        document = msgspec.structs.replace(document, warnings=tuple(state.warnings))
    state.document = document
    return list(findings.problems)


def _sources(state: _State) -> list[DocumentError]:
    from totpflow.arazzo.sources import SourceSet

    assert state.document is not None
    state.sources, problems = SourceSet.load_all(state.document, client=state.client)
    return list(problems)


def _operations(state: _State) -> list[DocumentError]:
    from totpflow.arazzo.sources import check_sources

    assert state.document is not None and state.sources is not None
    report = check_sources(state.document, state.sources)
    state.warnings.extend(report.warnings)
    return list(report.problems)


ROUNDS: tuple[tuple[RoundName, Round], ...] = (
    ("read", _read),
    ("schema", _schema),
    ("semantics", _semantics),
    ("sources", _sources),
    ("operations", _operations),
)


@dataclass(frozen=True)
class Validation:
    """The outcome: ``round`` is the round that found ``problems``, or None when the document is valid (then
    ``document`` is set, and ``sources`` unless the sources were skipped)."""

    ref: str
    round: RoundName | None
    problems: tuple[DocumentError, ...]
    warnings: tuple[str, ...]
    document: ArazzoDocument | None = None
    sources: SourceSet | None = None

    @property
    def valid(self) -> bool:
        return not self.problems

    def raise_problems(self) -> None:
        """A single problem of the read or sources round as the LoadError it is; any other problems as one
        DocumentInvalid carrying every one of them."""
        if not self.problems:
            return
        if self.round in ("read", "sources") and len(self.problems) == 1:
            raise self.problems[0]
        raise DocumentInvalid(self.problems, self.warnings)


def validate(
    ref: str,
    *,
    client: httpx.Client | None = None,
    skip_sources: bool = False,
) -> Validation:
    """Run the rounds on the document at ``ref`` (a path or an http(s) URL) until one finds problems."""
    state = _State(ref, client, skip_sources)
    for name, check in ROUNDS:
        if skip_sources and name in ("sources", "operations"):
            break
        problems = check(state)
        if problems:
            return Validation(ref, name, tuple(problems), tuple(state.warnings))
    return Validation(ref, None, (), tuple(state.warnings), state.document, state.sources)
