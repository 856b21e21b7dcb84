"""Source descriptions (OpenAPI 2.0/3.0/3.1 and Arazzo) of an Arazzo document and the operations steps call.

Public API::

    SourceSet.load(doc, *, client=None) -> SourceSet
        .resolve_operation(step, doc=None) -> Operation        # OperationNotFound at the step's location
        .resolve_workflow(ref, doc=None) -> (ArazzoDocument, Workflow)
        .source(name, doc=None) -> LoadedSource(name, url, type, content, document)
        .resolve_ref(source, "#/components/…") -> Any
    check_sources(doc, sources) -> SourceCheck(problems, warnings)
"""

from __future__ import annotations

from totpflow.arazzo.sources.check import SourceCheck, check_sources
from totpflow.arazzo.sources.openapi import Operation, OperationParameter
from totpflow.arazzo.sources.sourceset import LoadedSource, SourceSet

__all__ = ["LoadedSource", "Operation", "OperationParameter", "SourceCheck", "SourceSet", "check_sources"]
