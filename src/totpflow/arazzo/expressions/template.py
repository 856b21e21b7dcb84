"""Strings with embedded runtime expressions: ``"Bearer {$steps.login.outputs.token}"``.

Arazzo 1.0.1 says expressions "can be embedded into string values by surrounding the expression with ``{}``";
1.1.0 defines the grammar (``expression-string = *( literal-char / "{" expression "}" )``) and how a value
becomes text, which this module follows:

* a string is inserted as-is (also an XML or text body held as a string);
* ``true`` / ``false`` / ``null`` are written as in JSON, numbers in their JSON form;
* an object or array is serialised as JSON (RFC 8259), compactly.

An embedded expression starts at ``{$``. A ``{`` that is not followed by ``$`` is literal text, so JSON
string templates (``'{"id": "{$inputs.id}"}'``) and regex quantifiers (``\\d{3}``) need no escaping.
"""

from __future__ import annotations

import json
import math
from functools import lru_cache
from typing import Any

import msgspec

from totpflow.arazzo.errors import ExpressionError
from totpflow.arazzo.expressions.context import EvaluationContext
from totpflow.arazzo.expressions.lexer import TEMPLATE_STOP
from totpflow.arazzo.expressions.parser import Expression, parse_embedded


def stringify(value: Any) -> str:
    """The text a value contributes to a template (Arazzo 1.1.0 §"Runtime Expressions")."""
    if isinstance(value, str):
        return value
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer() and abs(value) < 1e16:
            return str(int(value))  # JSON has one number type: 2.0 is written 2
        return json.dumps(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


class Template(msgspec.Struct, frozen=True):
    """Literal text and embedded expressions, in order."""

    text: str
    parts: tuple[str | Expression, ...]

    def render(self, ctx: EvaluationContext) -> str:
        """Evaluate each embedded expression and join; EvaluationError when one cannot be evaluated."""
        return "".join(
            part if isinstance(part, str) else stringify(part.evaluate(ctx)) for part in self.parts
        )

    @property
    def expressions(self) -> tuple[Expression, ...]:
        return tuple(part for part in self.parts if isinstance(part, Expression))

    @property
    def warnings(self) -> tuple[str, ...]:
        return tuple(w for e in self.expressions for w in e.warnings)


@lru_cache(maxsize=8192)
def parse_template(text: str) -> Template:
    """Split ``text`` into literal text and ``{$…}`` expressions; ExpressionError (offset in ``text``)."""
    parts: list[str | Expression] = []
    literal: list[str] = []
    i = 0
    n = len(text)
    while i < n:
        j = text.find("{$", i)
        if j == -1:
            literal.append(text[i:])
            break
        literal.append(text[i:j])
        expression, end = parse_embedded(text, j + 1, TEMPLATE_STOP)
        if end >= n or text[end] != "}":
            raise ExpressionError(text, j, "an embedded expression '{$' is not closed by '}'")
        if literal:
            joined = "".join(literal)
            if joined:
                parts.append(joined)
            literal = []
        parts.append(expression)
        i = end + 1
    tail = "".join(literal)
    if tail:
        parts.append(tail)
    return Template(text, tuple(parts))


def has_template(text: str) -> bool:
    return "{$" in text
