"""XPath 1.0 (the ``xpath-10`` version of an Expression Type Object) through lxml, that is libxml2's engine.

The other XPath versions run on ``elementpath``, whose XPath 1.0 parser compares a node-set with a number as
text (``/r/b = 2`` is false for ``<b>2</b>``, ``/r/b != 2`` true) where XPath 1.0 §3.4 converts each node's
string-value with ``number()`` first (sissaschool/elementpath#93). libxml2 implements XPath 1.0 as written.

A document is parsed without a DTD, entities or network access (callers refuse a DOCTYPE before this). A
string given with an XML declaration is parsed as the text it already is: the declaration's ``encoding``
is not applied again. lxml is imported by the first call, as the other query libraries are. Results become
Python values: a node-set → the string-values of its nodes (an element's text content, an attribute's
value), a number → an ``int`` when it is integral (XPath 1.0 numbers are doubles; ``count(…)`` reads as
``2``, not ``2.0``), a string or boolean as it is.
"""

from __future__ import annotations

import threading
from functools import lru_cache
from typing import Any


class XPathFailure(Exception):
    """An expression that does not compile or evaluate, or a document that does not parse: the message, and
    where in the expression libxml2 stopped (0 when it does not say)."""

    def __init__(self, message: str, position: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.position = position


_PARSERS = threading.local()  # lxml's parser objects are not to be shared between threads


def _parser() -> Any:
    parser = getattr(_PARSERS, "parser", None)
    if parser is None:
        from lxml import etree

        parser = _PARSERS.parser = etree.XMLParser(
            resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, encoding="utf-8"
        )
    return parser


@lru_cache(maxsize=1024)
def compile_xpath(text: str) -> Any:
    """``text`` compiled; :class:`XPathFailure` when it is no XPath 1.0 expression."""
    from lxml import etree

    try:
        return etree.XPath(text)
    except etree.XPathSyntaxError as exc:
        last = exc.error_log.last_error if exc.error_log else None
        column = last.column if last is not None and isinstance(last.column, int) else 0
        raise XPathFailure(str(exc) or "syntax error", max(0, min(column, len(text)))) from None


def parse(text: str) -> Any:
    """The root element of the XML ``text``; :class:`XPathFailure` when it is not well-formed."""
    from lxml import etree

    try:
        return etree.fromstring(text.encode("utf-8"), _parser())
    except etree.XMLSyntaxError as exc:
        raise XPathFailure(str(exc)) from None


def evaluate(compiled: Any, root: Any) -> Any:
    """The raw result of ``compiled`` on the document of ``root`` (a node list, a number, a string or a
    boolean); :class:`XPathFailure` when evaluation fails (an unknown function, a variable)."""
    from lxml import etree

    try:
        return compiled(root.getroottree())
    except etree.XPathError as exc:
        raise XPathFailure(str(exc) or "evaluation failed") from None


def values(compiled: Any, root: Any) -> list[Any]:
    """The result of ``compiled`` as Python values, one per node of a node-set."""
    result = evaluate(compiled, root)
    items = result if isinstance(result, list) else [result]
    return [_value(item) for item in items]


def _value(item: Any) -> Any:
    from lxml import etree

    if isinstance(item, bool):
        return item
    if isinstance(item, float):
        return int(item) if item.is_integer() else item
    if isinstance(item, str):
        return str(item)  # a text or attribute node's value (lxml's str subclass) or a string
    if isinstance(item, etree._Element):
        return "".join(item.itertext())
    if isinstance(item, etree._ElementTree):
        return "".join(item.getroot().itertext())
    return str(item)


def set_node(node: Any, text: str) -> bool:
    """Write ``text`` into a selected element (its text) or attribute (its value); whether ``node`` is one."""
    from lxml import etree

    if isinstance(node, etree._Element) and isinstance(node.tag, str):
        node.text = text
        return True
    if isinstance(node, etree._ElementUnicodeResult) and node.is_attribute:
        parent = node.getparent()
        if parent is not None:
            parent.set(node.attrname, text)
            return True
    return False


def serialise(root: Any) -> str:
    """The document of ``root`` as text, without an XML declaration."""
    from lxml import etree

    return str(etree.tostring(root, encoding="unicode"))
