"""Compile a document value that may hold runtime expressions (payloads, parameter values, outputs,
replacement values) once, and evaluate it per run.

* a string that is one whole runtime expression → its value, type kept (1.0.1: "Runtime expressions preserve
  the type of the referenced value");
* a string with embedded ``{$…}`` → the rendered string (see ``template``);
* a 1.1 Selector Object (marked by the document builder) → the value it selects (``selector``);
* an object or array → the same shape, compiled member by member (keys are literal);
* anything else → itself.

A string is meant as a whole expression when it starts with ``$`` and a word that is an expression root in
any letter case (``$statusCode``, ``$StatusCode``, ``$inputs``…) or a word followed by ``.`` or ``#``
(``$inptus.name``); it must then parse, so a typo is an error at load time instead of a literal sent to the
API. Other strings that start with ``$`` (``"$5.00"``, ``"$USD"``) are literals.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from totpflow.arazzo.expressions import nodes
from totpflow.arazzo.expressions.context import EvaluationContext
from totpflow.arazzo.expressions.parser import ROOTS, Expression, parse
from totpflow.arazzo.expressions.selector import Selection, SelectorObject, compile_selector
from totpflow.arazzo.expressions.template import Template, has_template, parse_template

_ROOT_WORDS = frozenset(root[1:].lower() for root in (*ROOTS, "$self", "$message"))


def is_expression(text: str) -> bool:
    """Whether ``text`` is meant as one whole runtime expression (see the module docstring)."""
    if not text.startswith("$"):
        return False
    end = 1
    while end < len(text) and text[end].isascii() and text[end].isalpha():
        end += 1
    if end == 1:
        return False
    return text[1:end].lower() in _ROOT_WORDS or (end < len(text) and text[end] in ".#")


class LiteralValue(msgspec.Struct, frozen=True):
    value: Any

    def evaluate(self, ctx: EvaluationContext) -> Any:
        return self.value

    def expressions(self) -> list[Expression]:
        return []


class ExpressionValue(msgspec.Struct, frozen=True):
    expression: Expression

    def evaluate(self, ctx: EvaluationContext) -> Any:
        return self.expression.evaluate(ctx)

    def expressions(self) -> list[Expression]:
        return [self.expression]


class TemplateValue(msgspec.Struct, frozen=True):
    template: Template

    def evaluate(self, ctx: EvaluationContext) -> Any:
        return self.template.render(ctx)

    def expressions(self) -> list[Expression]:
        return list(self.template.expressions)


class ObjectValue(msgspec.Struct, frozen=True):
    members: tuple[tuple[str, Compiled], ...]

    def evaluate(self, ctx: EvaluationContext) -> Any:
        """The object; a member whose value is exactly ``$inputs.<name>`` of an optional input that was not
        given (and has no default) is left out, as an absent JSON Schema property is not ``null``."""
        return {
            key: value.evaluate(ctx)
            for key, value in self.members
            if not (
                isinstance(value, ExpressionValue)
                and isinstance(node := value.expression.node, nodes.Inputs)
                and node.pointer is None
                and ctx.input_absent(node.name)
            )
        }

    def expressions(self) -> list[Expression]:
        return [e for _, value in self.members for e in value.expressions()]


class ArrayValue(msgspec.Struct, frozen=True):
    items: tuple[Compiled, ...]

    def evaluate(self, ctx: EvaluationContext) -> Any:
        return [item.evaluate(ctx) for item in self.items]

    def expressions(self) -> list[Expression]:
        return [e for item in self.items for e in item.expressions()]


Compiled = LiteralValue | ExpressionValue | TemplateValue | ObjectValue | ArrayValue | Selection


def compile_value(value: Any) -> Compiled:
    """Compile ``value``; ExpressionError for a malformed expression (the position is within that string)."""
    if isinstance(value, str):
        if is_expression(value):
            return ExpressionValue(parse(value))
        if has_template(value):
            return TemplateValue(parse_template(value))
        return LiteralValue(value)
    if type(value) is SelectorObject:  # a 1.1 Selector Object (``selector.mark_selectors``)
        return compile_selector(value)
    if isinstance(value, Mapping):
        members = tuple((str(k), compile_value(v)) for k, v in value.items())
        if all(isinstance(v, LiteralValue) for _, v in members):
            return LiteralValue(value)
        return ObjectValue(members)
    if isinstance(value, list | tuple):
        items = tuple(compile_value(v) for v in value)
        if all(isinstance(v, LiteralValue) for v in items):
            return LiteralValue(value)
        return ArrayValue(items)
    return LiteralValue(value)
