"""Cost of runtime expressions, templates, ``simple`` conditions and criteria: parse once, evaluate many.

    .venv/bin/python bench/bench_expressions.py [--number N]

For each sample it reports the uncached parse time (what the document load pays once per distinct text) and
the evaluation time against an in-memory context (what every step attempt pays), as the best of 5 batches.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from functools import partial
from typing import Any, Literal

from totpflow.arazzo.criteria import compile_criterion
from totpflow.arazzo.document.model import Criterion
from totpflow.arazzo.errors import EvaluationError
from totpflow.arazzo.expressions import Headers, Message, parse, parse_condition, parse_template
from totpflow.arazzo.expressions import parser as expression_parser

BODY = {"token": "tok-123", "user": {"name": "alice", "id": 1}, "items": [{"id": 7}, {"id": 8}]}
XML = "<root><pets><pet id='1'>Rex</pet><pet id='2'>Tom</pet></pets><status>available</status></root>"


class Context:
    """A fixed step state: one login response and a few named values."""

    def __init__(self, body: Any = BODY) -> None:
        self._response = Message(
            Headers([("Content-Type", "application/json"), ("X-Rate-Limit", "100")]), body=body
        )
        self._inputs = {"username": "alice", "threshold": 2}
        self._steps = {"login": {"token": "tok-123", "arr": [{"id": "a1"}]}}

    def url(self) -> str | None:
        return "https://api.example.com/login"

    def method(self) -> str | None:
        return "POST"

    def status_code(self) -> int | None:
        return 200

    def request(self) -> Message | None:
        return None

    def response(self) -> Message | None:
        return self._response

    def input(self, name: str) -> Any:
        if name not in self._inputs:
            raise EvaluationError(name, "no such input")
        return self._inputs[name]

    def output(self, name: str) -> Any:
        raise EvaluationError(name, "no outputs")

    def step_output(self, step_id: str, name: str) -> Any:
        outputs = self._steps.get(step_id, {})
        if name not in outputs:
            raise EvaluationError(name, "no such output")
        return outputs[name]

    def workflow_value(self, workflow_id: str, kind: Literal["inputs", "outputs"], name: str) -> Any:
        raise EvaluationError(name, "no workflows")

    def source_description(self, name: str, field: str) -> Any:
        raise EvaluationError(name, "no sources")

    def component(self, kind: str, name: str) -> Any:
        raise EvaluationError(name, "no components")


EXPRESSIONS = [
    "$statusCode",
    "$response.body#/user/name",
    "$response.header.x-rate-limit",
    "$steps.login.outputs.token",
    "$steps.login.outputs.arr.0.id",  # dotted-name fallback
]
TEMPLATES = ["Bearer {$steps.login.outputs.token}", "https://{$inputs.username}.example.com/{$statusCode}"]
CONDITIONS = [
    "$statusCode == 200",
    "$statusCode == 200 && $response.body#/token != null",
    "'TOK-123' == $response.body#/token && !($statusCode >= 500) || false",
    "$response.header.X-Rate-Limit > $inputs.threshold",
]
CRITERIA = [
    Criterion("^tok-\\d+$", "$response.body#/token", "regex"),
    Criterion("$.token", "$response.body", "jsonpath"),
    Criterion("$[?count(@.user) > 0]", "$response.body", "jsonpath"),
    Criterion("count(/root/pets/*) > 0", "$response.body", "xpath"),
    Criterion("/root/status = 'available'", "$response.body", "xpath", version="xpath-10"),
]


def best_of(number: int, action: Callable[[], object], setup: Callable[[], object] | None = None) -> float:
    """Best time per call, in microseconds, over 5 batches of ``number`` calls."""
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(number):
            if setup is not None:
                setup()
            action()
        best = min(best, (time.perf_counter() - start) / number)
    return best * 1e6


def clear_caches() -> None:
    parse.cache_clear()
    parse_template.cache_clear()
    parse_condition.cache_clear()
    expression_parser._build.cache_clear()


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--number", type=int, default=5000)
    number = options.parse_args().number
    json_ctx, xml_ctx = Context(), Context(XML)

    print(f"{'sample':70} {'parse µs':>9} {'eval µs':>9}")
    for text in EXPRESSIONS:
        expression = parse(text)
        parse_us = best_of(number, partial(parse, text), clear_caches)
        eval_us = best_of(number, partial(expression.evaluate, json_ctx))
        print(f"expression  {text:58} {parse_us:9.2f} {eval_us:9.2f}")
    for text in TEMPLATES:
        template = parse_template(text)
        parse_us = best_of(number, partial(parse_template, text), clear_caches)
        eval_us = best_of(number, partial(template.render, json_ctx))
        print(f"template    {text:58} {parse_us:9.2f} {eval_us:9.2f}")
    for text in CONDITIONS:
        condition = parse_condition(text)
        parse_us = best_of(number, partial(parse_condition, text), clear_caches)
        eval_us = best_of(number, partial(condition.evaluate, json_ctx))
        print(f"condition   {text[:58]:58} {parse_us:9.2f} {eval_us:9.2f}")
    for criterion in CRITERIA:
        ctx = xml_ctx if criterion.type == "xpath" else json_ctx
        compiled = compile_criterion(criterion)
        assert compiled.evaluate(ctx).passed, criterion
        compile_us = best_of(max(number // 10, 1), partial(compile_criterion, criterion))
        eval_us = best_of(max(number // 10, 1), partial(compiled.evaluate, ctx))
        label = f"{criterion.type} {criterion.condition}"
        print(f"criterion   {label[:58]:58} {compile_us:9.2f} {eval_us:9.2f}")
    print(
        "(criterion 'parse' = compile_criterion with the library's query compile cached after the first call)"
    )


if __name__ == "__main__":
    main()
