"""A string from the command line or a prompt, turned into the type its input's schema declares.

``coerce(value, schema)``: integer, number, boolean and null from their JSON spellings, object and array from
JSON text, as Redocly respect does; a schema that allows strings (or declares no type) keeps the string, and
a value that is not a string is returned as it is. A string that fits no declared type is returned unchanged,
for the schema check to reject. The resolver passes the types an input's schema allows, found through its
``$ref``, ``allOf``, ``anyOf`` and ``oneOf`` (``InputsSchema.value_types``).
"""

from __future__ import annotations

import decimal
import json
import math
import re
import sys
from collections.abc import Mapping
from typing import Any

_INTEGER = re.compile(r"[-+]?\d+")
_NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")
_MAX_INTEGER_DIGITS = sys.get_int_max_str_digits() or 4300  # as long an integer as int() reads from text


def _types(schema: Mapping[str, Any]) -> list[str]:
    kind = schema.get("type")
    if isinstance(kind, str):
        return [kind]
    if isinstance(kind, list):
        return [str(item) for item in kind]
    return []


def coerce(value: Any, schema: Mapping[str, Any]) -> Any:
    if not isinstance(value, str):
        return value
    types = _types(schema)
    if not types or "string" in types:
        return value
    text = value.strip()
    for kind in types:
        if kind == "integer" and _INTEGER.fullmatch(text):
            try:
                return int(text)
            except ValueError:  # more digits than int() converts
                continue
        if kind == "integer" and _NUMBER.fullmatch(text):  # 1.0, 1e3: JSON Schema's integers with no fraction
            exact = decimal.Decimal(text)  # exact: a float would round a long one
            if exact == exact.to_integral_value() and exact.adjusted() < _MAX_INTEGER_DIGITS:
                return int(exact)
        if kind == "number" and _NUMBER.fullmatch(text):
            number = float(text)
            if not math.isfinite(number):  # too large for a float: no JSON number
                continue
            return int(number) if number.is_integer() and _INTEGER.fullmatch(text) else number
        if kind == "boolean" and text.lower() in ("true", "false"):
            return text.lower() == "true"
        if kind == "null" and text in ("null", ""):
            return None
        if kind in ("object", "array"):
            try:
                parsed = json.loads(text)
            except (ValueError, RecursionError):  # not JSON, an integer too long, nested too deeply
                continue
            if isinstance(parsed, dict if kind == "object" else list):
                return parsed
    return value
