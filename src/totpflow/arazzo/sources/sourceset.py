"""The source descriptions of an Arazzo document, loaded once, and what steps resolve to in them.

Arazzo 1.0.1 "Source Description Object": each ``url`` is resolved against the URL of the Arazzo document that
names it (RFC 3986 §5.2) and read from a local file or over http(s). A document reached from several places is
loaded once (the set is keyed by absolute URL). ``type: arazzo`` sources are loaded as Arazzo documents, with
their own sources, recursively; a document already being loaded is reused, which breaks reference cycles.

Step targets (1.0.1 "Step Object"):

- ``operationId``: plain when the document has one OpenAPI source; with several it MUST be written
  ``$sourceDescriptions.<name>.<operationId>``.
- ``operationPath``: ``{$sourceDescriptions.<name>.url}#<JSON Pointer to the Operation Object>``, e.g.
  ``#/paths/~1v1~1users/post``; the bare ``<name>#/paths/…`` form of real-world documents is accepted too.
- ``workflowId``: a workflow of the same document, or ``$sourceDescriptions.<arazzo source>.<workflowId>``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from totpflow.arazzo.document.identity import MAP_ENV, mapped
from totpflow.arazzo.document.loader import document_from_data
from totpflow.arazzo.document.model import ArazzoDocument, Step, Workflow
from totpflow.arazzo.document.reader import absolute_url, load_data, new_client, without_fragment
from totpflow.arazzo.document.references import source_qualified
from totpflow.arazzo.errors import DocumentError, DocumentInvalid, LoadError, OperationNotFound
from totpflow.arazzo.expressions import pointer
from totpflow.arazzo.expressions.pointer import PointerError
from totpflow.arazzo.sources.openapi import (
    HTTP_METHODS,
    Operation,
    build_operation,
    follow_ref,
    operation_index,
    resolve_pointer,
)

if TYPE_CHECKING:
    import httpx

    from totpflow.arazzo.asyncapi.document import AsyncApiDocument

SourceType = Literal["openapi", "arazzo", "asyncapi"]
_PATH_PREFIX = "{$sourceDescriptions."
_PATH_SUFFIX = ".url}"


@dataclass(eq=False)
class LoadedSource:
    """One loaded source description: its parsed content and, for ``type: arazzo``, the Arazzo document."""

    name: str
    url: str  # absolute
    type: SourceType
    content: Any = field(repr=False)
    document: ArazzoDocument | None = field(default=None, repr=False)
    asyncapi: AsyncApiDocument | None = field(default=None, repr=False)  # for ``type: asyncapi``
    _operation_ids: dict[str, tuple[str, str]] | None = field(default=None, repr=False)

    def operation_ids(self) -> dict[str, tuple[str, str]]:
        """operationId → (path, method); built on first use, once per source."""
        if self._operation_ids is None:
            self._operation_ids = operation_index(self.content) if self.type == "openapi" else {}
        return self._operation_ids


@dataclass(frozen=True, eq=False)
class AsyncStepTarget:
    """Where an async step points: its AsyncAPI source and exactly one of an operation id or a channel
    (a ``#/channels/…`` fragment); ``location`` is the step field that names it."""

    source: LoadedSource
    location: str
    operation_id: str | None = None
    channel_path: str | None = None


class SourceSet:
    """Every source description reachable from a root document, each loaded once."""

    def __init__(self, root: ArazzoDocument) -> None:
        self.root = root
        self._by_url: dict[str, LoadedSource] = {}
        self._by_document: dict[str, dict[str, LoadedSource]] = {}
        self._documents: dict[str, ArazzoDocument] = {root.url: root}
        self._identities: dict[str, ArazzoDocument] = {}  # Arazzo 1.1 ``$self`` → document
        self._register(root)
        self._operations: dict[tuple[str, str, str], Operation] = {}
        self._own_client: httpx.Client | None = None

    def _register(self, document: ArazzoDocument) -> None:
        identity = document.identity
        if identity is not None:
            self._identities.setdefault(identity, document)

    def _shared_client(self) -> httpx.Client:
        if self._own_client is None:
            self._own_client = new_client()
        return self._own_client

    @classmethod
    def load(cls, doc: ArazzoDocument, *, client: httpx.Client | None = None) -> SourceSet:
        """Load the sources of ``doc`` and, recursively, of its Arazzo sources. A source that cannot be read
        raises its LoadError; several raise DocumentInvalid with every one."""
        sources, problems = cls.load_all(doc, client=client)
        if len(problems) == 1:
            raise problems[0]
        if problems:
            raise DocumentInvalid(problems)
        return sources

    @classmethod
    def load_all(
        cls, doc: ArazzoDocument, *, client: httpx.Client | None = None
    ) -> tuple[SourceSet, list[LoadError]]:
        """Every source that can be read, and a LoadError (at its ``url``) for every one that cannot."""
        sources = cls(doc)
        problems: list[LoadError] = []
        try:
            sources._load(doc, client, problems)
        finally:
            if sources._own_client is not None:
                sources._own_client.close()
                sources._own_client = None
        return sources, problems

    def _load(self, doc: ArazzoDocument, client: httpx.Client | None, problems: list[LoadError]) -> None:
        names: dict[str, LoadedSource] = {}
        self._by_document[doc.url] = names  # registered first: a cycle back to doc stops here
        for description in doc.source_descriptions:
            url = without_fragment(absolute_url(description.url, doc.base))
            loaded = self._by_url.get(url)
            if loaded is None:
                try:
                    loaded = self._read(description.name, url, description.type, description.location, client)
                except LoadError as exc:
                    problems.append(exc)
                    continue
                self._by_url[url] = loaded
            names.setdefault(description.name, loaded)
            child = loaded.document
            if child is not None and child.url not in self._by_document:
                self._load(child, client, problems)

    def _read(
        self, name: str, url: str, declared: str | None, location: str, client: httpx.Client | None
    ) -> LoadedSource:
        known = self._documents.get(url) or self._identities.get(url)
        if known is not None:  # an Arazzo document of this set (by location or identity): not read again
            if declared not in (None, "arazzo"):
                raise LoadError(
                    location + "/url",
                    f"source description {name!r} is declared {declared} but names the Arazzo document {url}",
                )
            return LoadedSource(name, url, "arazzo", known.raw, known)
        where = mapped(url)
        try:
            if client is None and not where.startswith("file:"):
                client = self._shared_client()  # one connection pool for every remote source of this load
            content = load_data(where, client=client)
        except LoadError as exc:
            hint = ""
            if where == url and any(d.identity is not None for d in self._documents.values()):
                hint = f" (to read a $self URL from a local folder: --map-self URL=DIR or {MAP_ENV})"
            raise LoadError(location + "/url", f"source description {name!r}: {exc.message}{hint}") from None
        kind = declared or _detect(content)
        if kind == "asyncapi":
            return _asyncapi_source(name, url, content, location)
        if kind == "arazzo":
            try:
                document = document_from_data(content, url)
            except DocumentInvalid as exc:
                detail = "; ".join(str(problem) for problem in exc.problems[:3])
                raise LoadError(
                    location + "/url", f"source description {name!r} is invalid: {detail}"
                ) from None
            except LoadError as exc:
                raise LoadError(location + "/url", f"source description {name!r}: {exc}") from None
            self._documents[url] = document
            self._register(document)
            return LoadedSource(name, url, "arazzo", content, document)
        if not isinstance(content, Mapping) or not ("openapi" in content or "swagger" in content):
            raise LoadError(location + "/url", f"source description {name!r} is not an OpenAPI document")
        if not isinstance(content.get("paths", {}), Mapping):
            raise LoadError(location + "/url", f"source description {name!r}: 'paths' is not a mapping")
        return LoadedSource(name, url, "openapi", content)

    # -- lookups ---------------------------------------------------------------------------------------------

    def documents(self) -> tuple[ArazzoDocument, ...]:
        """The root document and every Arazzo document loaded as a source, root first."""
        return tuple(self._documents.values())

    def openapi_sources(self) -> dict[str, LoadedSource]:
        """Every OpenAPI source a step of the run can call, of the root document or an Arazzo document it
        uses, by the name its operations carry (the name it was first loaded under)."""
        return {source.name: source for source in self._by_url.values() if source.type == "openapi"}

    def asyncapi_sources(self) -> dict[str, LoadedSource]:
        """Every AsyncAPI source a step of the run can use, by name (as ``openapi_sources``)."""
        return {source.name: source for source in self._by_url.values() if source.type == "asyncapi"}

    def sources(self, doc: ArazzoDocument | None = None) -> dict[str, LoadedSource]:
        """The sources of ``doc`` (default: the root document) by name."""
        return dict(self._by_document.get((doc or self.root).url, {}))

    def source(self, name: str, doc: ArazzoDocument | None = None) -> LoadedSource:
        loaded = self._by_document.get((doc or self.root).url, {}).get(name)
        if loaded is None:
            raise DocumentError("", f"no source description named {name!r}")
        return loaded

    def resolve_operation(self, step: Step, doc: ArazzoDocument | None = None) -> Operation:
        """The OpenAPI operation a step calls; OperationNotFound at the step's operationId/operationPath."""
        doc = doc or self.root
        key = (doc.url, step.location, step.operation_id or step.operation_path or "")
        operation = self._operations.get(key)
        if operation is None:
            if step.operation_id is not None:
                operation = self._by_operation_id(step.operation_id, doc, step.location + "/operationId")
            elif step.operation_path is not None:
                operation = self._by_operation_path(
                    step.operation_path, doc, step.location + "/operationPath"
                )
            else:
                raise OperationNotFound(step.location, "the step calls a workflow, not an operation")
            self._operations[key] = operation
        return operation

    def resolve_async(self, step: Step, doc: ArazzoDocument | None = None) -> AsyncStepTarget:
        """The AsyncAPI source and operation or channel an async step (one with ``action``) names:
        ``operationId`` plain (one AsyncAPI source) or ``$sourceDescriptions.<name>.<operationId>``;
        ``channelPath`` ``{$sourceDescriptions.<name>.url}#/channels/<key>`` (or ``<name>#/channels/…``)."""
        doc = doc or self.root
        names = self._by_document.get(doc.url, {})
        candidates = [s for s in names.values() if s.type == "asyncapi"]
        if step.channel_path is not None:
            location = step.location + "/channelPath"
            head, _, fragment = step.channel_path.partition("#")
            if head.startswith(_PATH_PREFIX) and head.endswith(_PATH_SUFFIX):
                source = names.get(head[len(_PATH_PREFIX) : -len(_PATH_SUFFIX)])
                _refuse_a_shadowed_url(source, doc, location)
            elif head:
                source = names.get(head) or next(
                    (s for s in names.values() if s.url == without_fragment(absolute_url(head, doc.base))),
                    None,
                )
            else:
                source = candidates[0] if len(candidates) == 1 else None
            if source is None or source.asyncapi is None:
                raise OperationNotFound(
                    location, f"channelPath names no AsyncAPI source description ({head!r})"
                )
            if not fragment.startswith("/channels/"):
                raise OperationNotFound(
                    location, f"{fragment!r} does not point at a Channel Object (#/channels/…)"
                )
            return AsyncStepTarget(source, location, channel_path="#" + fragment)
        location = step.location + "/operationId"
        wanted = step.operation_id or ""
        qualified = source_qualified(wanted)
        if qualified is not None:
            found = names.get(qualified[0])
            if found is None or found.asyncapi is None:
                raise OperationNotFound(location, f"no AsyncAPI source description named {qualified[0]!r}")
            candidates, wanted = [found], qualified[1]
        elif len(candidates) > 1:
            raise OperationNotFound(
                location, f"several AsyncAPI sources: write $sourceDescriptions.<name>.{wanted}"
            )
        for source in candidates:
            assert source.asyncapi is not None
            if wanted in source.asyncapi.operation_ids:
                return AsyncStepTarget(source, location, operation_id=wanted)
        raise OperationNotFound(location, f"no AsyncAPI operation {wanted!r}")

    def _by_operation_id(self, operation_id: str, doc: ArazzoDocument, location: str) -> Operation:
        names = self._by_document.get(doc.url, {})
        qualified = source_qualified(operation_id)
        if qualified is not None:
            source = names.get(qualified[0])
            if source is None or source.type != "openapi":
                raise OperationNotFound(location, f"no OpenAPI source description named {qualified[0]!r}")
            candidates, wanted = [source], qualified[1]
        else:
            candidates, wanted = [s for s in names.values() if s.type == "openapi"], operation_id
            if len(candidates) > 1:
                raise OperationNotFound(
                    location,
                    f"several OpenAPI sources: write $sourceDescriptions.<name>.{operation_id} "
                    "(Arazzo 1.0.1 Step Object, operationId)",
                )
        for source in candidates:
            target = source.operation_ids().get(wanted)
            if target is not None:
                return _built(source, *target, location)
        where = f"source {candidates[0].name!r}" if len(candidates) == 1 else "any OpenAPI source"
        raise OperationNotFound(location, f"no operation {wanted!r} in {where}")

    def _by_operation_path(self, text: str, doc: ArazzoDocument, location: str) -> Operation:
        head, _, fragment = text.partition("#")
        names = self._by_document.get(doc.url, {})
        if head.startswith(_PATH_PREFIX) and head.endswith(_PATH_SUFFIX):
            source = names.get(head[len(_PATH_PREFIX) : -len(_PATH_SUFFIX)])
            _refuse_a_shadowed_url(source, doc, location)
        else:  # the bare `name#/paths/…` quirk, or the source's URL written out
            source = names.get(head) or next(
                (s for s in names.values() if s.url == without_fragment(absolute_url(head, doc.base))), None
            )
        if source is None or source.type != "openapi":
            raise OperationNotFound(location, f"operationPath names no OpenAPI source description ({head!r})")
        try:
            tokens = pointer.split_fragment(fragment)
        except PointerError:
            tokens = ()
        if len(tokens) != 3 or tokens[0] != "paths" or tokens[2] not in HTTP_METHODS:
            raise OperationNotFound(
                location, f"{fragment!r} does not point at an Operation Object (#/paths/…/<method>)"
            )
        try:
            item = follow_ref(source.content, pointer.resolve_tokens(source.content, tokens[:2]))
        except (DocumentError, PointerError):
            item = None
        if not isinstance(item, Mapping) or not isinstance(item.get(tokens[2]), Mapping):
            raise OperationNotFound(location, f"no operation at {fragment!r} in source {source.name!r}")
        return _built(source, tokens[1], tokens[2], location)

    def resolve_workflow(
        self, ref: str, doc: ArazzoDocument | None = None, location: str = ""
    ) -> tuple[ArazzoDocument, Workflow]:
        """The workflow ``ref`` names: a workflowId of ``doc`` or ``$sourceDescriptions.<source>.<id>``."""
        doc = doc or self.root
        qualified = source_qualified(ref)
        target_doc: ArazzoDocument | None = doc
        workflow_id = ref
        if qualified is not None:
            source = self._by_document.get(doc.url, {}).get(qualified[0])
            if source is None or source.document is None:
                raise OperationNotFound(location, f"no Arazzo source description named {qualified[0]!r}")
            target_doc, workflow_id = source.document, qualified[1]
        workflow = target_doc.workflow(workflow_id) if target_doc is not None else None
        if target_doc is None or workflow is None:
            raise OperationNotFound(location, f"no workflow {ref!r}")
        return target_doc, workflow

    def resolve_ref(self, source: LoadedSource | str, ref: str, doc: ArazzoDocument | None = None) -> Any:
        """The node a local ``$ref`` (``#/components/…``) names inside a source's content."""
        loaded = self.source(source, doc) if isinstance(source, str) else source
        if not ref.startswith("#"):
            raise DocumentError("", f"$ref {ref!r}: only references inside the same document are supported")
        return follow_ref(loaded.content, resolve_pointer(loaded.content, ref[1:], what="$ref"))


def _detect(content: Any) -> SourceType:
    if isinstance(content, Mapping) and "arazzo" in content:
        return "arazzo"
    if isinstance(content, Mapping) and "asyncapi" in content:
        return "asyncapi"
    return "openapi"


def _asyncapi_source(name: str, url: str, content: Any, location: str) -> LoadedSource:
    """A ``type: asyncapi`` source, read by the AsyncAPI reader (imported only for documents that have one;
    it imports no broker client)."""
    from totpflow.arazzo.asyncapi.document import AsyncApiDocument

    if not isinstance(content, Mapping) or "asyncapi" not in content:
        raise LoadError(location + "/url", f"source description {name!r} is not an AsyncAPI document")
    try:
        document = AsyncApiDocument(content, url)
    except DocumentError as exc:
        raise LoadError(location + "/url", f"source description {name!r}: {exc}") from None
    return LoadedSource(name, url, "asyncapi", content, asyncapi=document)


def _refuse_a_shadowed_url(source: LoadedSource | None, doc: ArazzoDocument, location: str) -> None:
    """In a 1.1 document ``{$sourceDescriptions.<name>.url}`` names an operation whose id is ``url`` before
    the source's ``url`` field (1.1.0 "Source Description Expression Resolution"), so an ``operationPath`` or
    ``channelPath`` written that way is ambiguous: refused, rather than silently read as the field."""
    if source is None or doc.minor == "1.0":
        return
    operations = source.asyncapi.content.get("operations") if source.asyncapi is not None else None
    shadowed = "url" in source.operation_ids() or (isinstance(operations, Mapping) and "url" in operations)
    if shadowed:
        raise OperationNotFound(
            location,
            f"source {source.name!r} has an operation named 'url', which "
            f"{{$sourceDescriptions.{source.name}.url}} names before the source's url field "
            "(1.1.0 Source Description Expression Resolution); "
            "name the operation or channel another way",
        )


def _built(source: Any, path: str, method: str, location: str) -> Operation:
    """``build_operation`` of a step's target; a problem inside the source (a ``$ref`` that does not resolve
    or loops) is reported at the step, naming the source and the operation."""
    try:
        return build_operation(source.name, source.url, source.content, path, method)
    except DocumentError as exc:
        if exc.location:
            raise
        raise DocumentError(
            location, f"source {source.name!r}, {method.upper()} {path}: {exc.message}"
        ) from None
