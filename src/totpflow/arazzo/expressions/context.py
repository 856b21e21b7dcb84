"""What a runtime expression may read: the current request and response, and the run's named values.

The engine implements ``EvaluationContext``; expressions never see the engine, httpx or the document model, so
they can be tested from plain dictionaries.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Literal, Protocol

import msgspec


class Headers(Mapping[str, str]):
    """HTTP header fields with case-insensitive names (RFC 9110 §5.1), in the order received.

    Arazzo says "single header values only are available" (1.0.1 §"Runtime Expressions" examples). A field
    that appears several times is read as its combined value, the members joined with ``", "`` (RFC 9110
    §5.3), except ``Set-Cookie``, which cannot be combined (RFC 6265 §3) and reads as its first occurrence.
    ``get_all`` gives every occurrence.
    """

    __slots__ = ("_index", "_pairs")

    def __init__(self, pairs: Iterable[tuple[str, str]] | Mapping[str, str] = ()) -> None:
        items = pairs.items() if isinstance(pairs, Mapping) else pairs
        self._pairs: tuple[tuple[str, str], ...] = tuple((str(k), str(v)) for k, v in items)
        self._index: dict[str, list[str]] | None = None  # built on the first lookup: most are never read

    @classmethod
    def of_text(cls, pairs: Iterable[tuple[str, str]]) -> Headers:
        """From pairs that are already ``str`` (an HTTP client's decoded headers): nothing to convert."""
        headers = cls.__new__(cls)
        headers._pairs = tuple(pairs)
        headers._index = None
        return headers

    @property
    def _fields(self) -> dict[str, list[str]]:
        if self._index is None:
            index: dict[str, list[str]] = {}
            for name, value in self._pairs:
                index.setdefault(name.lower(), []).append(value)
            self._index = index
        return self._index

    def __getitem__(self, name: str) -> str:
        value: str | None = self.get(name)
        if value is None:
            raise KeyError(name)
        return value

    def get(self, name: str, default: Any = None) -> Any:
        values = self._fields.get(name.lower())
        if values is None:
            return default
        if len(values) == 1 or name.lower() == "set-cookie":
            return values[0]
        return ", ".join(values)

    def __iter__(self) -> Iterator[str]:
        return iter(self._fields)

    def __len__(self) -> int:
        return len(self._fields)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._fields

    def get_all(self, name: str) -> list[str]:
        return list(self._fields.get(name.lower(), ()))

    @property
    def pairs(self) -> tuple[tuple[str, str], ...]:
        return self._pairs

    def __repr__(self) -> str:
        return f"Headers({[name for name, _ in self._pairs]!r})"  # names only: values may be credentials


class Message(msgspec.Struct, frozen=True):
    """A request or a response as ``$request.*`` / ``$response.*`` see it."""

    headers: Headers = msgspec.field(default_factory=Headers)
    query: Mapping[str, Any] = msgspec.field(default_factory=dict)  # a request's parameter values, as given
    path: Mapping[str, Any] = msgspec.field(default_factory=dict)
    body: Any = None  # parsed JSON value; str for text / XML; None when empty


class EvaluationContext(Protocol):
    """The values an expression reads. Named lookups raise ``EvaluationError`` when the name is absent;
    the request/response/URL/method/status accessors return ``None`` when there is none (yet)."""

    def url(self) -> str | None: ...

    def method(self) -> str | None: ...

    def status_code(self) -> int | None: ...

    def request(self) -> Message | None: ...

    def response(self) -> Message | None: ...

    def input(self, name: str) -> Any: ...

    def input_absent(self, name: str) -> bool:
        """Whether ``name`` is an optional input that was not given and has no default (it reads as null;
        a payload member that is exactly ``$inputs.<name>`` is then left out)."""
        ...

    def output(self, name: str) -> Any: ...

    def step_output(self, step_id: str, name: str) -> Any: ...

    def workflow_value(self, workflow_id: str, kind: Literal["inputs", "outputs"], name: str) -> Any: ...

    def source_description(self, name: str, field: str) -> Any: ...

    def component(self, kind: str, name: str) -> Any: ...

    def document_identity(self) -> str | None:
        """Arazzo 1.1 ``$self``: the absolute identity of the document the expression is in (None when it
        declares none)."""
        ...
