"""Workflow inputs: given on the command line, computed (a TOTP code from an earlier step's secret), defaulted
or asked for on a terminal, each resolved when first read and validated against the workflow's ``inputs``
JSON Schema.

Public API::

    InputResolver(schema, given, computed=None, prompt=None, components_inputs=None, *,
                  masker=None, secret_names=(), clock=time.time)          inputs.resolver
        .check_upfront()          before any request (invalid given values, required inputs missing)
        .get(name, ctx) -> Any    the value, resolved on first use and cached
        .values() -> dict         what has been resolved so far (given values included), for reports
        .declared / .required     property names of the (dereferenced) schema
    Prompt = Callable[[name, property_schema, ctx], raw value]       what InputResolver calls to ask
    InputsSchema.of(schema, components_inputs)    $ref (JSON Pointer or $anchor) / allOf analysis, validators
                                                                                            inputs.schema
    Computation, parse_computation(text), parse_compute_option("NAME=…") -> (name, Computation),
    parse_computations({name: spec})                                     ``--compute``, inputs.computed
    totp_code(secret_base32, at, *, digits=6, period=30, algorithm="SHA1") -> str     RFC 6238, inputs.totp
    parse_input_option("k=v") -> (k, "v"); load_inputs_file(path) -> dict; merge_inputs(files, options)
                                                                    ``--input`` / ``--inputs``, inputs.given
    coerce(value, schema) -> Any        a command-line string → the schema's type, inputs.coercion
    terminal_prompt(preamble=None, *, ask=input, ask_secret=None) -> Callable[[PromptSubject], str]
                                                                                            inputs.prompt
"""

from __future__ import annotations

from totpflow.arazzo.inputs.coercion import coerce
from totpflow.arazzo.inputs.computed import (
    Computation,
    parse_computation,
    parse_computations,
    parse_compute_option,
)
from totpflow.arazzo.inputs.given import load_inputs_file, merge_inputs, parse_input_option
from totpflow.arazzo.inputs.prompt import PromptSubject, terminal_prompt
from totpflow.arazzo.inputs.resolver import InputResolver, Prompt
from totpflow.arazzo.inputs.schema import InputsSchema
from totpflow.arazzo.inputs.totp import TOTP_ALGORITHMS, totp_code

__all__ = [
    "TOTP_ALGORITHMS",
    "Computation",
    "InputResolver",
    "InputsSchema",
    "Prompt",
    "PromptSubject",
    "coerce",
    "load_inputs_file",
    "merge_inputs",
    "parse_computation",
    "parse_computations",
    "parse_compute_option",
    "parse_input_option",
    "terminal_prompt",
    "totp_code",
]
