"""Arazzo runtime expressions (1.0.1 §"Runtime Expressions", grammar per 1.1.0): parse once, evaluate many.

    parse(text) -> Expression                  whole expression; .evaluate(ctx) keeps the value's type
    parse_template(text) -> Template           "Bearer {$steps.login.outputs.token}"; .render(ctx) -> str
    compile_value(value) -> Compiled           payloads, parameter values, outputs, replacement values
    parse_condition(text) -> Condition         the `simple` criterion language; .evaluate(ctx) -> bool
    pointer.resolve / pointer.replace          RFC 6901 JSON Pointer

Pure: depends only on ``totpflow.arazzo.errors``. Parses are cached per distinct text.
"""

from __future__ import annotations

from totpflow.arazzo.expressions import pointer
from totpflow.arazzo.expressions.compile import Compiled, compile_value, is_expression
from totpflow.arazzo.expressions.conditions import Condition, parse_condition
from totpflow.arazzo.expressions.context import EvaluationContext, Headers, Message
from totpflow.arazzo.expressions.parser import Expression, parse
from totpflow.arazzo.expressions.template import Template, parse_template, stringify

__all__ = [
    "Compiled",
    "Condition",
    "EvaluationContext",
    "Expression",
    "Headers",
    "Message",
    "Template",
    "compile_value",
    "is_expression",
    "parse",
    "parse_condition",
    "parse_template",
    "pointer",
    "stringify",
]
