"""Arazzo 1.1 Selector Objects and the Expression Type Object: select a value out of structured data.

A Selector Object (``{context, selector, type}``) may stand wherever a value may: step and workflow outputs,
parameter values, payloads (at any depth) and payload replacement values. ``type`` is ``jsonpath``,
``jsonpointer`` or ``xpath``, or an Expression Type Object naming a version: ``rfc9535`` or
``draft-goessner-dispatch-jsonpath-00`` (evaluated by the same RFC 9535 engine), ``rfc6901``, ``xpath-10`` …
``xpath-31`` (the default).

Decisions (the spec says none of this; docs/conformance.md):

* Which objects are selectors: in a 1.1 document, an object with exactly ``context``, ``selector`` and
  ``type`` (plus ``x-`` extensions) whose ``context`` is a runtime expression (starts with ``$``) and whose
  ``type`` names a selector type. The builder marks them (``mark_selectors``) as ``SelectorObject``; in a
  1.0 document the same shape stays a literal.
* Cardinality: JSONPath and XPath select sequences: none → ``null``, one → that value, several → a list.
  A JSON Pointer that resolves to nothing → ``null``.
* A text context (a body the server did not label JSON) is parsed as JSON for JSONPath and JSON Pointer; an
  XPath context must be XML text, and a DOCTYPE is refused (no entity expansion). XPath element and
  attribute nodes become their string values; atomic values stay as they are.

The XPath engines (``elementpath``; lxml for ``xpath-10``, ``expressions.xpath10``) are imported only when an
XPath selector is compiled or evaluated.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import msgspec

from totpflow.arazzo.errors import EvaluationError, ExpressionError
from totpflow.arazzo.expressions import pointer
from totpflow.arazzo.expressions.context import EvaluationContext
from totpflow.arazzo.expressions.parser import Expression, parse

GOESSNER = "draft-goessner-dispatch-jsonpath-00"
VERSIONS = {
    "jsonpath": ("rfc9535", GOESSNER),
    "jsonpointer": ("rfc6901",),
    "xpath": ("xpath-31", "xpath-30", "xpath-20", "xpath-10"),
}
_FIELDS = frozenset(("context", "selector", "type"))


class SelectorObject(dict[str, Any]):
    """A Selector Object of a 1.1 document value, as ``mark_selectors`` marks it (a plain dict otherwise)."""


def expression_type(value: Any) -> tuple[str, str] | None:
    """(type, version) of a selector type: a name or an Expression Type Object; None when it is neither.
    A bare name takes its default version."""
    if isinstance(value, str) and value in VERSIONS:
        return value, VERSIONS[value][0]
    if isinstance(value, Mapping):
        kind, version = value.get("type"), value.get("version")
        if isinstance(kind, str) and kind in VERSIONS and (version is None or version in VERSIONS[kind]):
            return kind, version or VERSIONS[kind][0]
    return None


def is_selector_object(value: Any) -> bool:
    """The runtime rule for a Selector Object in a 1.1 document (see the module docstring)."""
    return (
        isinstance(value, dict)
        and _FIELDS <= value.keys()
        and all(key in _FIELDS or (isinstance(key, str) and key.startswith("x-")) for key in value)
        and isinstance(value["context"], str)
        and value["context"].startswith("$")
        and isinstance(value["selector"], str)
        and expression_type(value["type"]) is not None
    )


def mark_selectors(value: Any) -> Any:
    """``value`` with every Selector Object in it (at any depth) a ``SelectorObject``; copies are made only
    along the way to one, so a value without any is returned as it is."""
    if isinstance(value, dict):
        if is_selector_object(value):
            return SelectorObject(value)
        marked = {key: mark_selectors(item) for key, item in value.items()}
        return marked if any(marked[key] is not value[key] for key in value) else value
    if isinstance(value, list):
        items = [mark_selectors(item) for item in value]
        return items if any(new is not old for new, old in zip(items, value, strict=True)) else value
    return value


class Selection(msgspec.Struct, frozen=True):
    """A compiled Selector Object: ``select`` evaluates the context and applies the selector."""

    context: Expression
    kind: str
    version: str
    selector: str
    compiled: Any

    def evaluate(self, ctx: EvaluationContext) -> Any:
        return self.select(self.context.evaluate(ctx))

    def expressions(self) -> list[Expression]:
        return [self.context]

    def select(self, value: Any) -> Any:
        if value is None:
            raise EvaluationError(self.context.text, "the selector's context is null")
        if self.kind == "xpath":
            if self.version == "xpath-10":
                return _xpath10_select(self.compiled, value, self.context.text)
            return _xpath_select(self.compiled, value, self.context.text)
        if isinstance(value, str | bytes):
            try:
                value = json.loads(value)
            except ValueError:
                raise EvaluationError(self.context.text, f"the context is not JSON ({self.kind})") from None
        if self.kind == "jsonpointer":
            try:
                return pointer.resolve(value, self.selector)
            except EvaluationError:
                return None
        return _cardinality([node.value for node in self.compiled.find(value)])


def compile_selector(value: Mapping[str, Any]) -> Selection:
    """Compile a Selector Object; ExpressionError (position within the text) when the context or the
    selector does not parse in its language."""
    typed = expression_type(value["type"])
    if typed is None:
        raise ExpressionError(str(value["type"]), 0, "not a selector type (jsonpath, jsonpointer, xpath)")
    kind, version = typed
    text = str(value["selector"])
    return Selection(parse(str(value["context"])), kind, version, text, compile_query(kind, version, text))


def compile_query(kind: str, version: str, text: str) -> Any:
    """The compiled selector (ExpressionError when it does not parse): a JSONPath query, the pointer's
    tokens, or the parsed XPath."""
    if kind == "jsonpointer":
        try:
            return pointer.split(text)
        except EvaluationError as exc:
            raise ExpressionError(text, 0, exc.message) from None
    if kind == "jsonpath":
        return _jsonpath(text)
    return _xpath(text, version)


@lru_cache(maxsize=1024)
def _jsonpath(text: str) -> Any:
    import jsonpath_rfc9535

    try:
        return jsonpath_rfc9535.compile(text)
    except jsonpath_rfc9535.JSONPathError as exc:
        position = exc.token.index if exc.token is not None else 0
        raise ExpressionError(text, position, f"invalid JSONPath (RFC 9535): {exc.args[0]}") from None


def xpath_parser(version: str | None) -> Any:
    """The ``elementpath`` parser class of an XPath version (3.1 when None)."""
    import elementpath

    if version == "xpath-10":
        return elementpath.XPath1Parser
    if version == "xpath-20":
        return elementpath.XPath2Parser
    if version == "xpath-30":
        from elementpath.xpath30 import XPath30Parser

        return XPath30Parser
    from elementpath.xpath31 import XPath31Parser

    return XPath31Parser


@lru_cache(maxsize=1024)
def _xpath(text: str, version: str) -> Any:
    if version == "xpath-10":
        from totpflow.arazzo.expressions import xpath10

        try:
            return xpath10.compile_xpath(text)
        except xpath10.XPathFailure as exc:
            raise ExpressionError(text, exc.position, f"invalid XPath ({version}): {exc.message}") from None
    import elementpath

    try:
        return xpath_parser(version)().parse(text)
    except elementpath.ElementPathError as exc:
        raise ExpressionError(text, 0, f"invalid XPath ({version}): {exc.message}") from None


def xml_text(value: Any, where: str) -> str:
    """XML text to parse: ``value`` decoded (bytes as UTF-8); EvaluationError for anything else, or for
    a DOCTYPE."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    if not isinstance(value, str):
        raise EvaluationError(where, f"the context is not XML text (it is a parsed {type(value).__name__})")
    if "<!doctype" in value.lower():
        raise EvaluationError(where, "the XML context has a DOCTYPE, which is refused (no entity expansion)")
    return value


def parse_xml(value: Any, where: str) -> Any:
    """An ElementTree root from XML text (EvaluationError for anything else, or a DOCTYPE)."""
    import xml.etree.ElementTree as ET

    text = xml_text(value, where)
    try:
        return ET.fromstring(text)
    except ET.ParseError as exc:
        raise EvaluationError(where, f"the context is not well-formed XML: {exc}") from None


def _xpath_select(token: Any, value: Any, where: str) -> Any:
    import xml.etree.ElementTree as ET

    import elementpath

    root = parse_xml(value, where)
    try:
        result = token.get_results(elementpath.XPathContext(ET.ElementTree(root)))
    except elementpath.ElementPathError as exc:
        raise EvaluationError(where, f"XPath evaluation failed: {exc.message}") from None
    items = result if isinstance(result, list) else [result]
    return _cardinality([_xpath_value(item) for item in items])


def _xpath10_select(compiled: Any, value: Any, where: str) -> Any:
    from totpflow.arazzo.expressions import xpath10

    text = xml_text(value, where)
    try:
        root = xpath10.parse(text)
    except xpath10.XPathFailure as exc:
        raise EvaluationError(where, f"the context is not well-formed XML: {exc.message}") from None
    try:
        return _cardinality(xpath10.values(compiled, root))
    except xpath10.XPathFailure as exc:
        raise EvaluationError(where, f"XPath evaluation failed: {exc.message}") from None


def _xpath_value(item: Any) -> Any:
    import xml.etree.ElementTree as ET

    if isinstance(item, ET.Element):
        return "".join(item.itertext())
    if isinstance(item, ET.ElementTree):
        root = item.getroot()
        return "".join(root.itertext()) if root is not None else None
    if isinstance(item, str | int | float | bool) or item is None:
        return item
    value = getattr(item, "value", None)  # an attribute node
    if isinstance(value, str):
        return value
    return str(item)


def _cardinality(values: list[Any]) -> Any:
    if not values:
        return None
    return values[0] if len(values) == 1 else values
