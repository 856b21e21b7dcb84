"""Recursive-descent parser for runtime expressions (Arazzo 1.0.1 §"Runtime Expressions").

The 1.0.1 ABNF is loose (``name = *( CHAR )`` with ``CHAR`` undefined), so this parser implements the 1.1.0
grammar, which is a strict refinement for everything 1.0.1 defines:

* step ids, workflow ids and source-description names are ``identifier-strict`` (``[A-Za-z0-9_-]+``);
* input, output, step-output, workflow-value and component names are ``identifier``
  (``[A-Za-z0-9._-]+``): **dots are allowed** in these names (workflow ``outputs`` and component keys are
  ``^[a-zA-Z0-9\\.\\-_]+$`` in the schema). How a dotted name is resolved is described in ``nodes``;
* ``$inputs`` / ``$outputs`` / ``$steps`` / ``$workflows`` values take an optional ``#`` JSON Pointer;
* header names are RFC 9110 ``token``s (case-insensitive); query and path parameter names are any characters;
* ``{`` and ``}`` never belong to an expression, so ``{$…}`` templates are unambiguous.

1.1.0's ``$self`` and ``$message`` (``.header.<token>``, ``.payload[#<pointer>]``) are parsed here; a 1.0
document that uses them is refused by the document checks, which know the document's version.

Accepted with a warning (``Expression.warnings``), because real documents use them: dot access after the body
(``$response.body.a.b`` ≡ ``$response.body#/a/b``) and index access after a name or body
(``$steps.s.outputs.arr[0].id``); ``$steps.s.outputs.arr.0.id`` parses as the spec's dotted output name and
falls back to property access when no output has that name.

Parsing is cached (``functools.lru_cache``): each distinct text is parsed once per process.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Literal, cast

import msgspec

from totpflow.arazzo.errors import ExpressionError
from totpflow.arazzo.expressions import nodes
from totpflow.arazzo.expressions import pointer as json_pointer
from totpflow.arazzo.expressions.context import EvaluationContext
from totpflow.arazzo.expressions.lexer import NO_STOP, Token, scan_expression

_STRICT = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
_TCHAR = _STRICT | frozenset("!#$%&'*+.^`|~")
_COMPONENT_KINDS = ("parameters", "successActions", "failureActions")
_MESSAGE_PARTS = ("header", "query", "path", "body")
ROOTS = (
    "$url",
    "$method",
    "$statusCode",
    "$request",
    "$response",
    "$inputs",
    "$outputs",
    "$steps",
    "$workflows",
    "$sourceDescriptions",
    "$components",
)
ROOTS_1_1 = ("$self", "$message")


class Expression(msgspec.Struct, frozen=True):
    """A parsed runtime expression. ``evaluate`` keeps the referenced value's type (1.0.1: "Runtime
    expressions preserve the type of the referenced value") and raises ``EvaluationError`` when the value
    does not exist."""

    text: str
    node: nodes.Node
    warnings: tuple[str, ...] = ()

    def evaluate(self, ctx: EvaluationContext) -> Any:
        return self.node.evaluate(ctx, self.text)

    def __str__(self) -> str:
        return self.text


@lru_cache(maxsize=8192)
def parse(text: str) -> Expression:
    """Parse a whole runtime expression (the entire string); ExpressionError with the offending offset."""
    tokens, end = scan_expression(text, 0, NO_STOP)
    return _Parser(text, tokens, end).parse()


def parse_embedded(source: str, start: int, stop: frozenset[str]) -> tuple[Expression, int]:
    """Parse the expression at ``source[start]`` that ends before a character of ``stop`` (or the text's end).

    Error positions are offsets in ``source``. Returns the expression and the offset just past it.
    """
    tokens, end = scan_expression(source, start, stop)
    return _build(source, tuple(tokens), end), end


def build_from_tokens(source: str, tokens: tuple[Token, ...], end: int) -> Expression:
    """An expression from tokens already scanned out of ``source`` (the condition lexer does this)."""
    return _build(source, tokens, end)


@lru_cache(maxsize=8192)
def _build(source: str, tokens: tuple[Token, ...], end: int) -> Expression:
    return _Parser(source, list(tokens), end).parse()


class _Parser:
    def __init__(self, source: str, tokens: list[Token], end: int) -> None:
        self.source = source
        self.tokens = tokens
        self.end = end
        self.start = tokens[0].pos
        self.i = 0
        self.warnings: list[str] = []

    # -- token helpers -------------------------------------------------------------------------------------
    def error(self, pos: int, message: str) -> ExpressionError:
        return ExpressionError(self.source, pos, message)

    def peek(self) -> Token | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self, kind: str, what: str) -> Token:
        tok = self.peek()
        if tok is None or tok.kind != kind:
            raise self.error(tok.pos if tok else self.end, f"expected {what}")
        self.i += 1
        return tok

    def rest_text(self, what: str) -> tuple[str, int]:
        """Everything from the current token to the expression's end, as one name."""
        tok = self.peek()
        if tok is None:
            raise self.error(self.end, f"expected {what}")
        self.i = len(self.tokens)
        return self.source[tok.pos : self.end], tok.pos

    def done(self) -> None:
        tok = self.peek()
        if tok is not None:
            raise self.error(tok.pos, f"unexpected {tok.text!r}")

    def check_chars(self, text: str, pos: int, allowed: frozenset[str], what: str) -> None:
        if not text:
            raise self.error(pos, f"expected {what}")
        for offset, ch in enumerate(text):
            if ch not in allowed:
                raise self.error(pos + offset, f"{ch!r} is not allowed in {what}")

    def strict_id(self, what: str) -> str:
        tok = self.take("WORD", what)
        self.check_chars(tok.text, tok.pos, _STRICT, what)
        return tok.text

    def identifier(self, what: str) -> str:
        """``identifier`` = ``[A-Za-z0-9._-]+``: WORD *( DOT WORD )."""
        tok = self.take("WORD", what)
        self.check_chars(tok.text, tok.pos, _STRICT, what)
        parts = [tok.text]
        while (
            self.i + 1 < len(self.tokens)
            and self.tokens[self.i].kind == "DOT"
            and self.tokens[self.i + 1].kind == "WORD"
        ):
            word = self.tokens[self.i + 1]
            self.check_chars(word.text, word.pos, _STRICT, what)
            parts.append(word.text)
            self.i += 2
        return ".".join(parts)

    # -- grammar -------------------------------------------------------------------------------------------
    def parse(self) -> Expression:
        root = self.take("ROOT", "a runtime expression")
        node = self.root(root)
        self.done()
        return Expression(self.source[self.start : self.end], node, tuple(self.warnings))

    def root(self, root: Token) -> nodes.Node:
        name = root.text
        if name == "$url":
            return nodes.Url()
        if name == "$method":
            return nodes.Method()
        if name == "$statusCode":
            return nodes.StatusCode()
        if name == "$self":
            return nodes.Self()
        if name not in ROOTS and name not in ROOTS_1_1:
            hint = next((r for r in ROOTS if r.lower() == name.lower()), None)
            suggestion = f" (names are case-sensitive: {hint})" if hint else ""
            raise self.error(root.pos, f"unknown runtime expression {name!r}{suggestion}")
        self.take("DOT", f"'.' after {name}")
        if name in ("$request", "$response"):
            return self.message(name)
        if name == "$message":
            return self.async_message()
        if name == "$inputs":
            input_name = self.identifier("an input name")
            return nodes.Inputs(input_name, self.tail())
        if name == "$outputs":
            output_name = self.identifier("an output name")
            return nodes.Outputs(output_name, self.tail())
        if name == "$steps":
            step = self.strict_id("a step id")
            self.take("DOT", "'.outputs.' after the step id")
            kw = self.take("WORD", "'outputs'")
            if kw.text != "outputs":
                raise self.error(kw.pos, "expected 'outputs' after the step id")
            self.take("DOT", "'.' after 'outputs'")
            output = self.identifier("an output name")
            return nodes.Steps(step, output, self.tail())
        if name == "$workflows":
            workflow = self.strict_id("a workflow id")
            self.take("DOT", "'.inputs.' or '.outputs.' after the workflow id")
            kw = self.take("WORD", "'inputs' or 'outputs'")
            if kw.text not in ("inputs", "outputs"):
                raise self.error(kw.pos, "expected 'inputs' or 'outputs' after the workflow id")
            self.take("DOT", f"'.' after {kw.text!r}")
            value_name = self.identifier(f"a workflow {kw.text[:-1]} name")
            kind = cast(Literal["inputs", "outputs"], kw.text)
            return nodes.Workflows(workflow, kind, value_name, self.tail())
        if name == "$sourceDescriptions":
            source = self.strict_id("a source description name")
            self.take("DOT", "'.' and a reference after the source description name")
            reference, pos = self.rest_text("an operationId, workflowId or field name")
            self.check_chars(reference, pos, frozenset(reference) - frozenset("{}"), "a reference")
            return nodes.SourceDescriptions(source, reference)
        # $components
        kw = self.take("WORD", "'parameters', 'successActions' or 'failureActions'")
        if kw.text not in _COMPONENT_KINDS:
            raise self.error(kw.pos, "expected 'parameters', 'successActions' or 'failureActions'")
        self.take("DOT", f"'.' after {kw.text!r}")
        kind_c = cast(Literal["parameters", "successActions", "failureActions"], kw.text)
        return nodes.Components(kind_c, self.identifier("a component name"))

    def message(self, root: str) -> nodes.Node:
        part_tok = self.take("WORD", "'header', 'query', 'path' or 'body'")
        part = part_tok.text
        cls = nodes.RequestRef if root == "$request" else nodes.ResponseRef
        if part == "body":
            nxt = self.peek()
            if nxt is not None and nxt.kind in ("DOT", "LBRACKET"):
                ptr = self.access(f"{root}.body")
                return cls("body", None, ptr)
            return cls("body", None, self.hash_pointer())
        if part not in _MESSAGE_PARTS:
            raise self.error(part_tok.pos, "expected 'header', 'query', 'path' or 'body'")
        self.take("DOT", f"'.' and a name after {part!r}")
        name, pos = self.rest_text(f"a {part} name")
        if part == "header":
            self.check_chars(name, pos, _TCHAR, "a header name (RFC 9110 token)")
        return cls(cast(nodes.MessagePart, part), name, None)

    def async_message(self) -> nodes.Node:
        part = self.take("WORD", "'header' or 'payload'")
        if part.text == "payload":
            nxt = self.peek()
            if nxt is not None and nxt.kind in ("DOT", "LBRACKET"):
                return nodes.MessageRef("payload", None, self.access("$message.payload"))
            return nodes.MessageRef("payload", None, self.hash_pointer())
        if part.text != "header":
            raise self.error(part.pos, "expected 'header' or 'payload' after $message.")
        self.take("DOT", "'.' and a name after 'header'")
        name, pos = self.rest_text("a header name")
        self.check_chars(name, pos, _TCHAR, "a header name (RFC 9110 token)")
        return nodes.MessageRef("header", name, None)

    def hash_pointer(self) -> str | None:
        tok = self.peek()
        if tok is None:
            return None
        self.take("HASH", "'#' and a JSON Pointer")
        ptr = self.take("POINTER", "a JSON Pointer")
        try:
            json_pointer.split(ptr.text)
        except json_pointer.PointerError as exc:
            bad = ptr.text.find("~") if ptr.text.startswith("/") else 0
            raise self.error(ptr.pos + max(bad, 0), exc.message) from None
        return ptr.text

    def access(self, what: str) -> str:
        """Non-spec ``.a.b[0]`` access, then an optional ``#`` JSON Pointer: the one equivalent JSON Pointer,
        with a warning naming the whole spec form."""
        start = self.peek()
        assert start is not None
        segments: list[str] = []
        while (tok := self.peek()) is not None and tok.kind in ("DOT", "LBRACKET"):
            self.i += 1
            if tok.kind == "DOT":
                segments.append(self.take("WORD", "a property name after '.'").text)
            else:
                index = self.take("WORD", "an index inside '[ ]'")
                if not index.text.isdigit() or not index.text.isascii():
                    raise self.error(index.pos, "expected a decimal index inside '[ ]'")
                segments.append(str(int(index.text)))
                self.take("RBRACKET", "']'")
        ptr = json_pointer.join(segments) + (self.hash_pointer() or "")
        written = self.source[start.pos : (self.peek() or Token("EOF", "", self.end, self.end)).pos]
        self.warnings.append(
            f"non-spec property access {what}{written}: Arazzo writes it as a JSON Pointer, {what}#{ptr}"
        )
        return ptr

    def tail(self) -> str | None:
        """After a value name: optional non-spec ``[n]`` access, then an optional ``#`` JSON Pointer."""
        tok = self.peek()
        if tok is not None and tok.kind == "LBRACKET":
            return self.access(self.source[self.start : tok.pos])
        if tok is not None and tok.kind == "DOT":
            raise self.error(tok.pos, "expected a name after '.'")
        return self.hash_pointer()
