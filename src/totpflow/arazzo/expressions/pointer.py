"""JSON Pointer (RFC 6901): read a value, and replace one (for payload replacements).

``resolve`` follows RFC 6901 §4: ``~1`` decodes to ``/`` and then ``~0`` to ``~``; an array is indexed by a
decimal index without leading zeros; ``-`` (the element after the last, §4) never exists when reading.

``replace`` returns a new value and never mutates its argument (the payload it is given may be a value the
document or a previous step still holds). Copies are made only along the path. A missing object member is
added, and ``-`` or an index equal to the array's length appends (as RFC 6902 ``add``), so a replacement can
fill a key that the payload template left out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any
from urllib.parse import unquote

from totpflow.arazzo.errors import EvaluationError


class PointerError(EvaluationError):
    """A JSON Pointer is malformed or does not resolve. ``expression`` is the pointer; no value is quoted."""


@lru_cache(maxsize=4096)
def split(pointer: str) -> tuple[str, ...]:
    """Decode a pointer into its reference tokens: ``"/a~1b/0"`` → ``("a/b", "0")``; ``""`` → ``()``."""
    if pointer == "":
        return ()
    if not pointer.startswith("/"):
        raise PointerError(pointer, "a JSON Pointer is empty or starts with '/' (RFC 6901 §3)")
    tokens = []
    for raw in pointer[1:].split("/"):
        i = raw.find("~")
        while i != -1:
            if i + 1 >= len(raw) or raw[i + 1] not in "01":
                raise PointerError(pointer, "'~' must be followed by '0' or '1' (RFC 6901 §3)")
            i = raw.find("~", i + 2)
        tokens.append(raw.replace("~1", "/").replace("~0", "~"))
    return tuple(tokens)


def escape(token: str | int) -> str:
    """Encode one reference token (RFC 6901 §3): ``~`` → ``~0``, ``/`` → ``~1``; an index as its digits."""
    return str(token).replace("~", "~0").replace("/", "~1")


def join(tokens: Iterable[str | int]) -> str:
    """Encode reference tokens (object keys, array indexes) as a pointer: ``("a/b", 0)`` → ``"/a~1b/0"``."""
    return "".join("/" + escape(t) for t in tokens)


def split_fragment(fragment: str) -> tuple[str, ...]:
    """The reference tokens of a URI fragment identifier (RFC 6901 §6): percent-decoded first, then split;
    ``"/paths/~1v1~1users/post"`` → ``("paths", "/v1/users", "post")``."""
    return split(unquote(fragment))


def _array_index(token: str, length: int, where: str) -> int:
    if token == "-":
        raise PointerError(where, "'-' names no existing array element (RFC 6901 §4)")
    if not token.isdigit() or not token.isascii() or (len(token) > 1 and token[0] == "0"):
        raise PointerError(where, f"{token!r} is not an array index")
    index = int(token)
    if index >= length:
        raise PointerError(where, f"array index {index} is out of range (length {length})")
    return index


def resolve_tokens(value: Any, tokens: tuple[str, ...], pointer: str = "") -> Any:
    """Follow already-decoded reference tokens through objects and arrays."""
    current = value
    for depth, token in enumerate(tokens):
        if type(current) is dict and token in current:  # the common case, without the ABC check
            current = current[token]
        elif isinstance(current, Mapping):
            if token not in current:
                raise PointerError(pointer or join(tokens), f"no member {join(tokens[: depth + 1])!r}")
            current = current[token]
        elif isinstance(current, list | tuple):
            current = current[_array_index(token, len(current), pointer or join(tokens))]
        else:
            raise PointerError(
                pointer or join(tokens),
                f"{join(tokens[:depth]) or 'the root'} is a {_kind(current)}, not an object or array",
            )
    return current


def resolve(value: Any, pointer: str) -> Any:
    """The value ``pointer`` designates in ``value``; PointerError when it does not exist."""
    return resolve_tokens(value, split(pointer), pointer)


def replace(value: Any, pointer: str, new: Any) -> Any:
    """A copy of ``value`` with the location ``pointer`` set to ``new`` (``""`` replaces the whole value)."""
    return _replace(value, split(pointer), new, pointer, 0)


def _replace(current: Any, tokens: tuple[str, ...], new: Any, pointer: str, depth: int) -> Any:
    if depth == len(tokens):
        return new
    token = tokens[depth]
    last = depth == len(tokens) - 1
    if isinstance(current, Mapping):
        copy = dict(current)
        if token not in copy and not last:
            raise PointerError(pointer, f"no member {join(tokens[: depth + 1])!r}")
        copy[token] = _replace(copy.get(token), tokens, new, pointer, depth + 1)
        return copy
    if isinstance(current, list | tuple):
        items = list(current)
        if last and (token == "-" or token == str(len(items))):
            items.append(new)
            return items
        index = _array_index(token, len(items), pointer)
        items[index] = _replace(items[index], tokens, new, pointer, depth + 1)
        return items
    raise PointerError(
        pointer, f"{join(tokens[:depth]) or 'the root'} is a {_kind(current)}, not an object or array"
    )


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return type(value).__name__
