"""The one check every value passes before it can reach a query: no NUL anywhere in it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec
import pytest

from totpflow.server.domain.models import Name
from totpflow.server.http.dispatch import holds_nul


class Body(msgspec.Struct):
    field: Any


@dataclass
class Record:
    field: Any


def nested(depth: int, leaf: Any) -> Any:
    value = leaf
    for _ in range(depth):
        value = [value]
    return value


CASES: list[tuple[str, Any, bool]] = [
    ("plain string", "a\x00b", True),
    ("clean string", "ab", False),
    ("dict key", {"a\x00": 1}, True),
    ("dict value", {"a": "\x00"}, True),
    ("list item", ["a", "b\x00"], True),
    ("tuple of args and kwargs", (("x",), {"user_id": "u\x00"}), True),
    ("struct field", Body({"k": ["\x00"]}), True),
    ("dataclass field", Record("\x00"), True),
    ("domain dataclass", Name(first_name="A", middle_name="\x00", last_name=""), True),
    ("numbers and None", [1, 2.5, None, True], False),
    ("deeper than the recursion limit", nested(100_000, "\x00"), True),
    ("deep and clean", nested(100_000, "x"), False),
]


@pytest.mark.parametrize(("value", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_holds_nul(value: Any, expected: bool) -> None:
    assert holds_nul(value) is expected
