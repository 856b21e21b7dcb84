"""Criterion Objects (Arazzo 1.0.1 §"Criterion Object") compiled once, evaluated per attempt to a CheckResult.

Types and what passes (pass/fail rules from 1.1.0 §"Condition Evaluation", which 1.0.1 leaves unsaid):

* ``simple`` (default): the condition language of ``expressions.conditions``; ``context`` is not used. In a
  1.1 document only a result that is the boolean ``true`` passes (1.1.0 §"Simple Conditions"); a 1.0
  document keeps ECMAScript truthiness, so a lone ``$response.body#/count`` of ``5`` passes there only.
* ``regex``: the ECMA-262 pattern (``expressions.ecma_regex``) is searched in the context value, made text as
  embedded expressions are (``200`` → ``"200"``, objects → JSON).
* ``jsonpath``: RFC 9535 (``jsonpath-rfc9535``); passes when the nodelist is non-empty. A text context is
  parsed as JSON. ``version: draft-goessner-dispatch-jsonpath-00`` is evaluated by the same RFC 9535
  engine (RFC 9535 standardises Goessner's syntax; script expressions ``(…)`` are not supported) and the
  result says so.

  *Root filters on an object context.* The spec's own example, ``$[?count(@.pets) > 0]`` with
  ``context: $response.body``, only selects something if the body object is treated as the single element of
  an array; plain RFC 9535 applies the filter to the object's member values. Decision: evaluate plain RFC 9535
  first; when the query's first segment has a filter, index or slice selector (``$[?…]``, ``$[0]``), the
  context is an object and nothing was selected, evaluate again with the context wrapped in an array (as
  Redocly always does), and pass with a message saying the wrapped form matched. So ``$.token``,
  ``$[?@.token]`` and ``$[0].token`` all pass against ``{"token": …}``. Beware that under RFC 9535
  ``@.x != null`` is true when ``x`` is absent (Nothing ≠ null), in either form; test existence with
  ``$[?@.x]``.
* ``xpath``: XPath 3.1 by default; ``version`` ``xpath-20`` / ``xpath-30`` / ``xpath-31`` selects the
  ``elementpath`` parser, ``xpath-10`` libxml2's XPath 1.0 through lxml (``expressions.xpath10``). The
  context must be XML text; a DOCTYPE is refused so no entity can be expanded. The result is the
  expression's boolean value per that version (``boolean(…)``: XPath 1.0 §4.2, the Effective Boolean Value
  in 2.0+).
* ``jsonpointer`` (Arazzo 1.1, an Expression Type Object ``{type: jsonpointer, version: rfc6901}``): the
  condition is an RFC 6901 pointer, checked at compile time. 1.1.0 gives it no pass/fail rule of its own;
  decision, by analogy with JSONPath (a pointer selects at most one node): it passes when the pointer
  identifies a value in the context, whatever the value (``null`` and ``false`` included), and fails when it
  identifies nothing. A text context is parsed as JSON, as for ``jsonpath``.

``{$…}`` expressions embedded in regex, jsonpath and xpath conditions are substituted before evaluation
(1.1.0 §"Runtime Expressions in Conditions"), their values inserted as text, unescaped.

A syntax error found at compile time (the condition, the context expression, a missing context, an unknown
type or version) is a ConditionError carrying the criterion's location. At run time a null or unresolvable
context, a condition that became invalid after substitution, or a query error fails the check (1.1.0
§"Evaluation Errors") instead of raising, and ``CheckResult.message`` says why, quoting values only through
the caller's ``mask`` and truncated. (Errors the context itself raises other than EvaluationError, such as
an input that cannot be prompted for, propagate.)
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import lru_cache
from typing import Any, Protocol

import msgspec

from totpflow.arazzo.errors import ConditionError, EvaluationError, ExpressionError
from totpflow.arazzo.expressions import Expression, Template, parse, parse_condition, parse_template, pointer
from totpflow.arazzo.expressions.conditions import Condition, show
from totpflow.arazzo.expressions.context import EvaluationContext
from totpflow.arazzo.expressions.ecma_regex import RegexSyntaxError, compile_ecma
from totpflow.arazzo.expressions.template import has_template, stringify
from totpflow.arazzo.results import CheckResult


class Criterion(Protocol):
    """What a criterion is compiled from: a Criterion Object of the document model
    (``document.model.Criterion``). Criteria sit below the document package, which compiles them when it
    validates a document, so they read the record through this Protocol instead of importing the model."""

    @property
    def condition(self) -> str: ...

    @property
    def context(self) -> str | None: ...

    @property
    def type(self) -> str: ...

    @property
    def version(self) -> str | None: ...

    @property
    def location(self) -> str: ...

    @property
    def minor(self) -> str: ...


Mask = Callable[[str], str]
GOESSNER = "draft-goessner-dispatch-jsonpath-00"
_JSONPATH_VERSIONS = ("rfc9535", GOESSNER)
_XPATH_VERSIONS = ("xpath-10", "xpath-20", "xpath-30", "xpath-31")
_JSONPOINTER_VERSIONS = ("rfc6901",)


def _masked(text: str, mask: Mask | None) -> str:
    return mask(text) if mask is not None else text


class CompiledCriterion(msgspec.Struct, frozen=True):
    """A criterion ready to evaluate. ``expressions`` lists every runtime expression it reads."""

    criterion: Criterion
    kind: str
    context: Expression | None = None
    condition: Condition | None = None  # simple
    template: Template | None = None  # regex / jsonpath / xpath with embedded {$…}
    compiled: Any = None  # regex / jsonpath / xpath compiled when the condition has no {$…}
    version: str | None = None
    expressions: tuple[Expression, ...] = ()
    only_true: bool = False  # simple, in a 1.1 document: only a result that is ``true`` passes

    @property
    def warnings(self) -> tuple[str, ...]:
        return tuple(w for e in self.expressions for w in e.warnings)

    def evaluate(self, ctx: EvaluationContext, *, mask: Mask | None = None) -> CheckResult:
        """Evaluate against an ``EvaluationContext``; ``mask`` redacts secrets from quoted values."""
        if self.condition is not None and self.condition.evaluate(ctx, only_true=self.only_true):
            return CheckResult(self.criterion.condition, True, self.kind, None)  # nothing to explain
        passed, message = self._check(ctx, mask)
        return CheckResult(self.criterion.condition, passed, self.kind, message)

    # -- per type --------------------------------------------------------------------------------------
    def _check(self, ctx: EvaluationContext, mask: Mask | None) -> tuple[bool, str | None]:
        if self.kind == "simple":
            assert self.condition is not None
            return self.condition.explain(ctx, mask, only_true=self.only_true)
        assert self.context is not None
        try:
            value = self.context.evaluate(ctx)
        except EvaluationError as exc:
            return False, f"context {self.context.text} could not be resolved: {exc.message}"
        if value is None:
            return False, f"context {self.context.text} is null"
        text = self.criterion.condition
        compiled = self.compiled
        if self.template is not None:
            try:
                text = self.template.render(ctx)
            except EvaluationError as exc:
                return False, f"an embedded expression could not be resolved: {exc.message}"
            try:
                compiled = _COMPILERS[self.kind](text, self.version)
            except ConditionError as exc:
                return False, f"condition invalid after substitution: {_masked(exc.message, mask)}"
        if self.kind == "regex":
            return _check_regex(compiled, self.context.text, value, mask)
        if self.kind == "jsonpath":
            return _check_jsonpath(compiled, self.context.text, value, self.version, mask)
        if self.kind == "jsonpointer":
            return _check_jsonpointer(compiled, text, self.context.text, value, mask)
        return _check_xpath(compiled, self.context.text, value, mask)


# -- compilers: text → compiled query, cached (conditions with {$…} are compiled per distinct substitution);
# ConditionError with the position within the text ---------------------------------------------------------
def _compile_regex(text: str, version: str | None) -> Any:
    try:
        return compile_ecma(text)
    except RegexSyntaxError as exc:
        raise ConditionError(text, exc.position, exc.message) from None


@lru_cache(maxsize=2048)
def _compile_jsonpath(text: str, version: str | None) -> Any:
    import jsonpath_rfc9535

    try:
        return jsonpath_rfc9535.compile(text)
    except jsonpath_rfc9535.JSONPathError as exc:
        position = exc.token.index if exc.token is not None else 0
        raise ConditionError(text, position, f"invalid JSONPath (RFC 9535): {exc.args[0]}") from None


def _xpath_parser(version: str | None) -> Any:
    from totpflow.arazzo.expressions.selector import xpath_parser

    return xpath_parser(version)


class _XPath(msgspec.Struct, frozen=True):
    text: str
    boolean: Any  # the parsed ``boolean((text))``: its result is the Effective Boolean Value of ``text``
    xpath10: bool = False  # compiled by lxml (``expressions.xpath10``), not elementpath


@lru_cache(maxsize=2048)
def _compile_xpath(text: str, version: str | None) -> Any:
    if version == "xpath-10":
        return _compile_xpath10(text)
    import elementpath

    parser = _xpath_parser(version)
    try:
        parser().parse(text)
    except elementpath.ElementPathError as exc:
        span = getattr(getattr(exc, "token", None), "span", None)
        position = span[0] if isinstance(span, tuple) else 0
        raise ConditionError(
            text, position, f"invalid XPath ({version or 'xpath-31'}): {exc.message}"
        ) from None
    try:
        boolean = parser().parse(f"boolean(({text}))")
    except elementpath.ElementPathError as exc:  # e.g. a constant sequence with no boolean value (FORG0006)
        raise ConditionError(text, 0, f"XPath condition has no boolean value: {exc.message}") from None
    return _XPath(text, boolean)


def _compile_xpath10(text: str) -> _XPath:
    from totpflow.arazzo.expressions import xpath10

    try:
        xpath10.compile_xpath(text)
        boolean = xpath10.compile_xpath(f"boolean(({text}))")
    except xpath10.XPathFailure as exc:
        raise ConditionError(text, exc.position, f"invalid XPath (xpath-10): {exc.message}") from None
    return _XPath(text, boolean, xpath10=True)


def _compile_jsonpointer(text: str, version: str | None) -> Any:
    try:
        return pointer.split(text)
    except EvaluationError as exc:
        raise ConditionError(text, 0, f"invalid JSON Pointer (RFC 6901): {exc.message}") from None


_COMPILERS: dict[str, Callable[[str, str | None], Any]] = {
    "regex": _compile_regex,
    "jsonpath": _compile_jsonpath,
    "xpath": _compile_xpath,
    "jsonpointer": _compile_jsonpointer,
}


# -- checks -------------------------------------------------------------------------------------------------
def _check_regex(regex: Any, context: str, value: Any, mask: Mask | None) -> tuple[bool, str | None]:
    text = stringify(value)
    try:
        if regex.test(text):
            return True, None
    except EvaluationError as exc:  # regex_guard.RegexTimeout: a guarded pattern ran out of time
        return False, f"{context} against {show(regex.source, mask)}: {exc.message}"
    return False, f"{context} ({show(text, mask)}) does not match {show(regex.source, mask)}"


def _check_jsonpath(
    query: Any, context: str, value: Any, version: str | None, mask: Mask | None
) -> tuple[bool, str | None]:
    import jsonpath_rfc9535
    from jsonpath_rfc9535.selectors import FilterSelector, IndexSelector, SliceSelector

    array_selectors = (FilterSelector, IndexSelector, SliceSelector)

    note = f" ({GOESSNER} evaluated with RFC 9535 semantics)" if version == GOESSNER else ""
    if isinstance(value, str | bytes):
        try:
            value = json.loads(value)
        except ValueError:
            return False, f"context {context} is not JSON{note}"
    try:
        nodes = query.find(value)
        if nodes:
            return True, note.strip(" ()") or None
        segments = query.segments
        wrappable = bool(segments) and any(isinstance(s, array_selectors) for s in segments[0].selectors)
        if wrappable and isinstance(value, dict) and query.find([value]):
            return True, f"matched with the context wrapped in an array ([{context}]){note}"
    except jsonpath_rfc9535.JSONPathError as exc:
        return False, f"JSONPath evaluation failed: {_masked(str(exc.args[0]), mask)}{note}"
    return False, f"{query} selected nothing in {context} ({show(value, mask)}){note}"


def _check_jsonpointer(
    tokens: tuple[str, ...], text: str, context: str, value: Any, mask: Mask | None
) -> tuple[bool, str | None]:
    if isinstance(value, str | bytes):
        try:
            value = json.loads(value)
        except ValueError:
            return False, f"context {context} is not JSON"
    try:
        pointer.resolve_tokens(value, tokens, text)
    except EvaluationError as exc:
        return False, f"{show(text, mask)} identifies nothing in {context}: {_masked(exc.message, mask)}"
    return True, None


def _check_xpath(xpath: Any, context: str, value: Any, mask: Mask | None) -> tuple[bool, str | None]:
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    if not isinstance(value, str):
        return False, f"context {context} is not XML text (it is a parsed {type(value).__name__})"
    if "<!doctype" in value.lower():
        return False, f"context {context} has a DOCTYPE, which is refused (no entity expansion)"
    evaluate = _xpath10_boolean if xpath.xpath10 else _elementpath_boolean
    result = evaluate(xpath, context, value, mask)
    if isinstance(result, str):  # why it could not be evaluated
        return False, result
    if result is True:
        return True, None
    return False, f"{show(xpath.text, mask)} is false for {context} ({show(value, mask)})"


def _elementpath_boolean(xpath: _XPath, context: str, value: str, mask: Mask | None) -> bool | str:
    """The boolean value of ``xpath`` on the XML ``value``, or why it has none (a failure message)."""
    import xml.etree.ElementTree as ET

    import elementpath

    try:
        root = ET.fromstring(value)
    except ET.ParseError as exc:
        return f"context {context} is not well-formed XML: {exc}"
    try:
        return xpath.boolean.get_results(elementpath.XPathContext(ET.ElementTree(root))) is True
    except elementpath.ElementPathError as exc:
        return f"XPath evaluation failed: {_masked(str(exc.message), mask)}"


def _xpath10_boolean(xpath: _XPath, context: str, value: str, mask: Mask | None) -> bool | str:
    """:func:`_elementpath_boolean` through libxml2 (``expressions.xpath10``)."""
    from totpflow.arazzo.expressions import xpath10

    try:
        root = xpath10.parse(value)
    except xpath10.XPathFailure as exc:
        return f"context {context} is not well-formed XML: {exc.message}"
    try:
        return xpath10.evaluate(xpath.boolean, root) is True
    except xpath10.XPathFailure as exc:
        return f"XPath evaluation failed: {_masked(exc.message, mask)}"


# -- entry point --------------------------------------------------------------------------------------------
def compile_criterion(criterion: Criterion) -> CompiledCriterion:
    """Compile a criterion; ConditionError with ``criterion.location`` (+ ``/condition``, ``/context``, …)."""
    kind = criterion.type or "simple"
    where = criterion.location

    def fail(exc: ExpressionError, field_name: str) -> ConditionError:
        return ConditionError(exc.expression, exc.position, exc.message, f"{where}/{field_name}")

    context: Expression | None = None
    if criterion.context is not None:
        try:
            context = parse(criterion.context)
        except ExpressionError as exc:
            raise fail(exc, "context") from None
    if kind == "simple":
        try:
            condition = parse_condition(criterion.condition)
        except ExpressionError as exc:
            raise fail(exc, "condition") from None
        used = (context, *condition.expressions) if context else condition.expressions
        return CompiledCriterion(
            criterion,
            kind,
            context,
            condition=condition,
            expressions=tuple(used),
            only_true=criterion.minor != "1.0",
        )
    if kind not in _COMPILERS:
        raise ConditionError(str(kind), 0, f"unknown criterion type {kind!r}", f"{where}/type")
    if context is None:
        raise ConditionError(
            criterion.condition, 0, f"a {kind} criterion needs a context expression", f"{where}/context"
        )
    version = criterion.version
    allowed = {
        "jsonpath": _JSONPATH_VERSIONS,
        "xpath": _XPATH_VERSIONS,
        "jsonpointer": _JSONPOINTER_VERSIONS,
    }.get(kind, ())
    if version is not None and version not in allowed:
        raise ConditionError(version, 0, f"unknown {kind} version {version!r}", f"{where}/type/version")
    template: Template | None = None
    compiled: Any = None
    if has_template(criterion.condition):
        try:
            template = parse_template(criterion.condition)
        except ExpressionError as exc:
            raise fail(exc, "condition") from None
    else:
        try:
            compiled = _COMPILERS[kind](criterion.condition, version)
        except ExpressionError as exc:
            raise fail(exc, "condition") from None
    used = (context, *(template.expressions if template else ()))
    return CompiledCriterion(
        criterion, kind, context, template=template, compiled=compiled, version=version, expressions=used
    )
