"""The ``simple`` condition language of Criterion Objects (Arazzo 1.0.1 §"Criterion Object"; evaluation rules
from 1.1.0 §"Condition Evaluation", which 1.0.1 leaves unsaid).

Grammar (recursive descent; precedence ``!`` > comparison > ``&&`` > ``||``, as in ECMAScript)::

    condition  = or
    or         = and *( "||" and )
    and        = comparison *( "&&" comparison )
    comparison = unary [ ( "==" / "!=" / "<" / "<=" / ">" / ">=" ) unary ]     ; comparisons do not chain
    unary      = "!" unary / primary
    primary    = "true" / "false" / "null" / number / "'" string "'" / runtime-expression / "(" or ")"

Literals: ``true``, ``false``, ``null``, JSON numbers, single-quoted strings with ``''`` for a quote. The
``.`` and ``[]`` operators of the spec's table are property / index access written directly after a runtime
expression (``$response.body.items[0].id``); the expression parser reads them (with a non-spec warning). An
operand expression ends at white space or at one of ``( ) = ! < > & |``.

Semantics:

* string comparisons are case-insensitive (1.0.1 "String comparisons MUST be case insensitive"), by
  Unicode case folding; ``<`` and friends compare folded strings lexicographically;
* numeric strings are coerced to numbers when compared with a number, and by the ordering operators when both
  sides are numeric (1.1.0: "Numeric strings SHOULD be coerced"), so ``$response.header.X-Rate-Limit == 100``
  holds for the header text ``"100"``; ``'true'``/``'false'`` compare equal to the booleans;
* ``null`` equals only ``null``; ``!=`` is the negation of ``==``; ordering with ``null`` or a boolean, or
  between unrelated types, is false;
* an operand that cannot be resolved (absent header, output, pointer target) is ``null``;
* ``!``, ``&&``, ``||`` and the final result use ECMAScript ToBoolean (ECMA-262 §7.1.2): ``false``, ``null``,
  ``0``, ``NaN`` and ``''`` are false, everything else true; so a condition that evaluates to ``null`` fails.
* ``only_true`` (Arazzo 1.1 documents): the final result passes only when it is the boolean ``true``
  (1.1.0 §"Simple Conditions" lists no other passing value), so a lone non-boolean value such as
  ``$response.body#/count`` fails whatever it holds. Operands of ``!``, ``&&`` and ``||`` still convert by
  ToBoolean (those operators yield booleans). 1.0 documents keep ToBoolean for the final result too.
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import msgspec

from totpflow.arazzo.errors import ConditionError, EvaluationError, ExpressionError
from totpflow.arazzo.expressions.context import EvaluationContext
from totpflow.arazzo.expressions.lexer import Token, tokenize_condition
from totpflow.arazzo.expressions.parser import Expression, build_from_tokens
from totpflow.arazzo.expressions.template import stringify

Mask = Callable[[str], str]
_NUMERIC = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_SHOW_LIMIT = 60


# -- values -----------------------------------------------------------------------------------------------
def truthy(value: Any) -> bool:
    """ECMAScript ToBoolean (ECMA-262 §7.1.2) over JSON values."""
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value != 0 and not math.isnan(value)
    if isinstance(value, str):
        return value != ""
    return True


def _number(value: Any) -> int | float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return value
    if isinstance(value, str) and _NUMERIC.fullmatch(value):
        if any(c in value for c in ".eE"):
            return float(value)
        try:
            return int(value)
        except ValueError:  # more digits than int() converts: compared by its magnitude
            return float(value)
    return None


def equal(a: Any, b: Any) -> bool:
    """``==`` of the simple language (see the module docstring)."""
    if type(a) is int and type(b) is int:  # the common case, e.g. ``$statusCode == 200``
        return a == b
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, bool) or isinstance(b, bool):
        if isinstance(a, bool) and isinstance(b, bool):
            return a == b
        flag, other = (a, b) if isinstance(a, bool) else (b, a)
        return isinstance(other, str) and other.casefold() == ("true" if flag else "false")
    if isinstance(a, str) and isinstance(b, str):
        return a.casefold() == b.casefold()
    if isinstance(a, int | float) or isinstance(b, int | float):
        na, nb = _number(a), _number(b)
        return na is not None and nb is not None and na == nb
    return bool(a == b)


def order(a: Any, b: Any) -> int | None:
    """-1 / 0 / 1 for ``a`` before / equal to / after ``b``; None when they cannot be ordered."""
    if a is None or b is None or isinstance(a, bool) or isinstance(b, bool):
        return None
    na, nb = _number(a), _number(b)
    if na is not None and nb is not None:
        return (na > nb) - (na < nb)
    if isinstance(a, str) and isinstance(b, str):
        fa, fb = a.casefold(), b.casefold()
        return (fa > fb) - (fa < fb)
    return None


def compare(op: str, a: Any, b: Any) -> bool:
    if op == "==":
        return equal(a, b)
    if op == "!=":
        return not equal(a, b)
    rank = order(a, b)
    if rank is None:
        return False
    return {"<": rank < 0, "<=": rank <= 0, ">": rank > 0, ">=": rank >= 0}[op]


def show(value: Any, mask: Mask | None = None) -> str:
    """A value as a failure message quotes it: JSON-like, masked, at most 60 characters."""
    text = f"'{value}'" if isinstance(value, str) else stringify(value)
    if mask is not None:
        text = mask(text)
    return text if len(text) <= _SHOW_LIMIT else text[: _SHOW_LIMIT - 1] + "…"


# -- AST ----------------------------------------------------------------------------------------------------
class Lit(msgspec.Struct, frozen=True):
    value: Any
    text: str

    def evaluate(self, ctx: EvaluationContext) -> Any:
        return self.value

    def describe(self, ctx: EvaluationContext, mask: Mask | None) -> str:
        return self.text


class Operand(msgspec.Struct, frozen=True):
    expression: Expression

    def evaluate(self, ctx: EvaluationContext) -> Any:
        try:
            return self.expression.evaluate(ctx)
        except EvaluationError:
            return None  # an unresolvable operand is null (module docstring)

    def describe(self, ctx: EvaluationContext, mask: Mask | None) -> str:
        try:
            value = self.expression.evaluate(ctx)
        except EvaluationError as exc:
            return f"{self.expression.text} (unresolved: {exc.message})"
        return f"{self.expression.text} ({show(value, mask)})"


class Not(msgspec.Struct, frozen=True):
    operand: CondNode

    def evaluate(self, ctx: EvaluationContext) -> Any:
        return not truthy(self.operand.evaluate(ctx))

    def describe(self, ctx: EvaluationContext, mask: Mask | None) -> str:
        return f"!{self.operand.describe(ctx, mask)}"


class Compare(msgspec.Struct, frozen=True):
    op: str
    left: CondNode
    right: CondNode

    def evaluate(self, ctx: EvaluationContext) -> Any:
        return compare(self.op, self.left.evaluate(ctx), self.right.evaluate(ctx))

    def describe(self, ctx: EvaluationContext, mask: Mask | None) -> str:
        return f"{self.left.describe(ctx, mask)} {self.op} {self.right.describe(ctx, mask)}"


class And(msgspec.Struct, frozen=True):
    items: tuple[CondNode, ...]

    def evaluate(self, ctx: EvaluationContext) -> Any:
        return all(truthy(item.evaluate(ctx)) for item in self.items)

    def describe(self, ctx: EvaluationContext, mask: Mask | None) -> str:
        for item in self.items:
            if not truthy(item.evaluate(ctx)):
                return item.describe(ctx, mask)
        return " && ".join(item.describe(ctx, mask) for item in self.items)


class Or(msgspec.Struct, frozen=True):
    items: tuple[CondNode, ...]

    def evaluate(self, ctx: EvaluationContext) -> Any:
        return any(truthy(item.evaluate(ctx)) for item in self.items)

    def describe(self, ctx: EvaluationContext, mask: Mask | None) -> str:
        return "(" + " || ".join(item.describe(ctx, mask) for item in self.items) + ")"


CondNode = Lit | Operand | Not | Compare | And | Or


class Condition(msgspec.Struct, frozen=True):
    """A parsed ``simple`` condition."""

    text: str
    root: CondNode
    expressions: tuple[Expression, ...] = ()

    @property
    def warnings(self) -> tuple[str, ...]:
        return tuple(w for e in self.expressions for w in e.warnings)

    def evaluate(self, ctx: EvaluationContext, *, only_true: bool = False) -> bool:
        """Whether the condition passes; ``only_true``: only a result that is the boolean ``true`` does
        (Arazzo 1.1), else any ToBoolean-true result (1.0)."""
        value = self.root.evaluate(ctx)
        return value is True if only_true else truthy(value)

    def explain(
        self, ctx: EvaluationContext, mask: Mask | None = None, *, only_true: bool = False
    ) -> tuple[bool, str | None]:
        """The result and, when it fails, which part failed with the values compared (masked, truncated)."""
        value = self.root.evaluate(ctx)
        if value is True or (not only_true and truthy(value)):
            return True, None
        if only_true and truthy(value):
            return False, (
                f"not true: {self.root.describe(ctx, mask)} is not a boolean "
                "(an Arazzo 1.1 condition passes only when it evaluates to true)"
            )
        return False, f"false: {self.root.describe(ctx, mask)}"


# -- parser -------------------------------------------------------------------------------------------------
@lru_cache(maxsize=8192)
def parse_condition(text: str) -> Condition:
    """Parse a ``simple`` condition; ConditionError with the offset of the problem."""
    parser = _Parser(text, tokenize_condition(text))
    root = parser.disjunction()
    tok = parser.peek()
    if tok.kind != "EOF":
        if tok.kind == "OP" and tok.text in ("==", "!=", "<", "<=", ">", ">="):
            raise ConditionError(text, tok.pos, "comparisons do not chain; combine them with '&&'")
        raise ConditionError(text, tok.pos, f"unexpected {tok.text!r}")
    return Condition(text, root, tuple(parser.expressions))


_COMPARISONS = frozenset({"==", "!=", "<", "<=", ">", ">="})
MAX_NESTING = 64  # parentheses and '!' around one operand: far beyond a readable condition


class _Parser:
    def __init__(self, text: str, tokens: list[Token]) -> None:
        self.text = text
        self.tokens = tokens
        self.i = 0
        self.expressions: list[Expression] = []
        self.depth = 0

    def nested(self, tok: Token) -> None:
        """One level deeper, at ``tok`` (a '(' or a '!'); ConditionError past ``MAX_NESTING``."""
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise ConditionError(self.text, tok.pos, f"nested more than {MAX_NESTING} levels deep")

    def peek(self) -> Token:
        return self.tokens[self.i]

    def advance(self) -> Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def disjunction(self) -> CondNode:
        items = [self.conjunction()]
        while self.peek().kind == "OP" and self.peek().text == "||":
            self.advance()
            items.append(self.conjunction())
        return items[0] if len(items) == 1 else Or(tuple(items))

    def conjunction(self) -> CondNode:
        items = [self.comparison()]
        while self.peek().kind == "OP" and self.peek().text == "&&":
            self.advance()
            items.append(self.comparison())
        return items[0] if len(items) == 1 else And(tuple(items))

    def comparison(self) -> CondNode:
        left = self.unary()
        tok = self.peek()
        if tok.kind == "OP" and tok.text in _COMPARISONS:
            self.advance()
            return Compare(tok.text, left, self.unary())
        return left

    def unary(self) -> CondNode:
        tok = self.peek()
        if tok.kind == "OP" and tok.text == "!":
            self.advance()
            self.nested(tok)
            operand = Not(self.unary())
            self.depth -= 1
            return operand
        return self.primary()

    def primary(self) -> CondNode:
        tok = self.advance()
        if tok.kind == "NUMBER":
            try:
                value: Any = float(tok.text) if any(c in tok.text for c in ".eE") else int(tok.text)
            except ValueError:  # more digits than int() converts
                limit = sys.get_int_max_str_digits()
                raise ConditionError(self.text, tok.pos, f"a number longer than {limit} digits") from None
            return Lit(value, tok.text)
        if tok.kind == "STRING":
            return Lit(tok.text, self.text[tok.pos : tok.end])
        if tok.kind == "KEYWORD":
            return Lit({"true": True, "false": False, "null": None}[tok.text], tok.text)
        if tok.kind == "EXPR":
            try:
                expression = build_from_tokens(self.text, tok.parts, tok.end)
            except ExpressionError as exc:
                raise ConditionError(self.text, exc.position, exc.message) from None
            self.expressions.append(expression)
            return Operand(expression)
        if tok.kind == "LPAREN":
            self.nested(tok)
            inner = self.disjunction()
            close = self.advance()
            if close.kind != "RPAREN":
                raise ConditionError(self.text, close.pos, "expected ')' to close the '(' at " + str(tok.pos))
            self.depth -= 1
            return inner
        if tok.kind == "EOF":
            raise ConditionError(self.text, tok.pos, "expected a value (literal, runtime expression or '(')")
        raise ConditionError(self.text, tok.pos, f"unexpected {tok.text!r}; expected a value")
