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

lxml leaves the document (root) node out of every node-set it returns (it has no Python object for it), so
``/``, ``/.`` or ``/r/..`` would select nothing. Whether a node-set holds it is asked of libxml2 itself:
``boolean((expr)[not(..)])``, the document node being the one node without a parent; it then comes first
(document order), as its string-value, which is the root element's (XPath 1.0 §5.1), as the other XPath
versions give it. Only an expression that can select it is asked: one with a ``node()`` test, a ``.`` or
``..`` step, or a ``/`` with no step after it (any other step tests for an element, attribute, text,
comment, processing instruction or namespace).
"""

from __future__ import annotations

import re
import threading
from functools import lru_cache
from typing import Any

_EXACT = 2.0**53  # the largest magnitude up to which every integer is a double


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

        # huge_tree: no depth or text-size limit beyond the other XPath versions' (ElementTree has none);
        # without a DTD or entities a document cannot grow beyond its own text
        parser = _PARSERS.parser = etree.XMLParser(
            resolve_entities=False, no_network=True, load_dtd=False, huge_tree=True, encoding="utf-8"
        )
    return parser


@lru_cache(maxsize=1024)
def compile_xpath(text: str) -> Any:
    """``text`` compiled; :class:`XPathFailure` when it is no XPath 1.0 expression."""
    from lxml import etree

    try:
        compiled = etree.XPath(text)
    except etree.XPathSyntaxError as exc:
        last = exc.error_log.last_error if exc.error_log else None
        column = last.column if last is not None and isinstance(last.column, int) else 0
        raise XPathFailure(str(exc) or "syntax error", max(0, min(column, len(text)))) from None
    # libxml2 finds an unknown function, an undeclared prefix or a variable only when it evaluates: once on
    # an empty document, so that such an expression is refused where it is written, not where it runs
    try:
        compiled(etree.fromstring(b"<probe/>"))
    except etree.XPathError as exc:
        raise XPathFailure(str(exc) or "evaluation failed") from None
    return compiled


def parse(text: str) -> Any:
    """The root element of the XML ``text``; :class:`XPathFailure` when it is not well-formed."""
    from lxml import etree

    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: no character, so no XML
        raise XPathFailure("the text holds a lone surrogate, which is no character") from None
    try:
        return etree.fromstring(data, _parser())
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
    """The result of ``compiled`` as Python values, one per node of a node-set (the document node's
    included, which lxml leaves out)."""
    result = evaluate(compiled, root)
    if not isinstance(result, list):
        return [_value(result)]
    found = [_value(item) for item in result]
    probe = _document_probe(compiled.path)
    if probe is not None and evaluate(probe, root) is True:
        found.insert(0, _value(root.getroottree()))
    return found


# a node() test, a "." or ".." step, or a "/" no step follows (end, ")", "|", "]", an operator …): what can
# select the document node; false positives ("2.5", "'a/'") only cost a second evaluation
_MAY_SELECT_DOCUMENT = re.compile(r"node\s*\(|\.|/(?!\s*[\w@*/])")


@lru_cache(maxsize=1024)
def _document_probe(text: str) -> Any:
    """``boolean((text)[not(..)])`` compiled, true when the node-set ``text`` selects holds the document
    node; None when ``text`` cannot select it."""
    if not _MAY_SELECT_DOCUMENT.search(text):
        return None
    from lxml import etree

    try:
        return etree.XPath(f"boolean(({text})[not(..)])")
    except etree.XPathError:  # not expected of an expression that compiled: lxml's result stands
        return None


def _value(item: Any) -> Any:
    from lxml import etree

    if isinstance(item, bool):
        return item
    if isinstance(item, float):  # an integer when it is one exactly (|x| ≤ 2^53)
        return int(item) if item.is_integer() and abs(item) <= _EXACT else item
    if isinstance(item, str):
        return str(item)  # a text or attribute node's value (lxml's str subclass) or a string
    if isinstance(item, tuple) and len(item) == 2:  # a namespace node: (prefix, URI)
        return str(item[1])
    if isinstance(item, etree._Element):
        if not isinstance(item.tag, str):  # a comment or processing instruction: its text
            return item.text or ""
        return "".join(item.itertext())
    if isinstance(item, etree._ElementTree):
        return "".join(item.getroot().itertext())
    return str(item)


def set_node(node: Any, text: str) -> bool:
    """Write ``text`` into a selected element (its text) or attribute (its value); whether ``node`` is one.
    :class:`XPathFailure` for text XML cannot hold (a control character, a lone surrogate)."""
    from lxml import etree

    try:
        if isinstance(node, etree._Element) and isinstance(node.tag, str):
            node.text = text
            return True
        if isinstance(node, etree._ElementUnicodeResult) and node.is_attribute:
            parent = node.getparent()
            if parent is not None:
                parent.set(node.attrname, text)
                return True
    except ValueError:  # lxml refuses what is not XML character data; the text may be a secret: not quoted
        raise XPathFailure("the value holds a character XML cannot hold") from None
    return False


def serialise(root: Any) -> str:
    """The document of ``root`` as text, without an XML declaration."""
    from lxml import etree

    return str(etree.tostring(root, encoding="unicode"))
