"""OpenAPI parameter serialisation: a step's parameter values → path, query, header and cookie parts.

Public API::

    RequestParts(path_params={}, query=[], headers=[], cookies=[])   # mutable; .extend(other), .has_header()
        path_params: name → already percent-encoded text to put in place of ``{name}`` in the path template
        query:   [(name, value)] already percent-encoded (use ``query_string`` to join)
        headers: [(name, value)] as sent (no percent-encoding; RFC 9110 field values)
        cookies: [(name, value)] as sent (use ``cookie_header`` to join)

    serialize_parameters(items) -> RequestParts
        items: iterable of (info, name, in_, value); info is an ``OperationParameter``-like object (``style``,
        ``explode``, ``allow_reserved``) or None for the location's defaults. A None value is left out
        (an absent optional parameter); for ``path`` it raises ``ExecutionError``.
    serialize_parameter(info, name, in_, value, parts) -> None          # one parameter, appended to ``parts``
    expand_path(template, path_params) -> str                           # "/users/{id}" → "/users/u%201"
    query_string(pairs) -> str                                          # "a=1&b=2" (pairs already encoded)
    cookie_header(pairs) -> str                                         # "a=1; b=2"

Rules (OpenAPI 3.1.1 §4.8.12.4 "Style Values" and the "Style Examples" table, with OAS 3.2.0's ``cookie``
style; RFC 6570 for the URI forms):

- Defaults by location: path ``simple``/explode false, query ``form``/explode true, header ``simple``/false,
  cookie ``form``/true. ``explode`` defaults to true exactly when the style is ``form`` or ``cookie``.
- path: simple ``blue,black,brown``; label ``.blue.black.brown``; matrix ``;color=blue;color=black``.
- query: form (``color=blue&color=black`` exploded, ``color=blue,black`` not), spaceDelimited (``%20``),
  pipeDelimited (``%7C``), deepObject (``color%5BR%5D=100``: the brackets percent-encoded, whatever
  ``explode`` says). Exploded spaceDelimited / pipeDelimited, which the table leaves undefined, repeat the
  key for an array (as exploded form) and refuse an object. An exploded form object spreads its properties
  as separate parameters (``R=100&G=200``), as the spec's table shows.
- Percent-encoding (RFC 3986 §2): everything except unreserved characters is encoded, including the
  delimiters ``,;=.`` that occur *inside* values, so ``a,b`` as a single value stays distinguishable from an
  array. With ``allowReserved: true`` (query only, per OpenAPI) the RFC 3986 reserved characters are sent as
  they are.
- Primitive values render as JSON scalars do: ``true``/``false``, numbers as written, ``null`` as the empty
  string. A nested object or array inside an array or object (which OpenAPI leaves undefined) is sent as
  compact JSON text.
- Swagger 2.0 ``collectionFormat`` (its Parameter Object: any ``in`` but ``body``): ``csv`` is ``simple``
  / ``form``, ``multi`` exploded ``form`` (query only); ``ssv``, ``tsv`` and ``pipes`` join the items with a
  space, a tab or ``|`` in a path, a query or a header, the delimiter percent-encoded in a path or query
  (``%20``, ``%09``, ``%7C``) and sent as it is in a header. An object is flattened to keys and values, as
  ``spaceDelimited`` does; a primitive value is refused, as for ``spaceDelimited``.
- headers are not percent-encoded (a value with CR, LF or NUL is rejected, RFC 9110 §5.5; spaces and tabs
  around a value, which a recipient strips, are not sent, and an ssv/tsv array whose first or last item is
  empty, which would lose that item so, is rejected); cookies follow ``form`` but
  percent-encode only the characters RFC 6265 §4.1.1 forbids in a cookie value (space, ``"``, ``,``,
  ``;``, ``\\``, controls, non-ASCII). A cookie's name (the parameter's, or an exploded object's key) is sent
  as it is, so one holding ``=``, ``;``, CR, LF or NUL, which would add a cookie or end the header, is
  refused in either style.
- cookie style (OAS 3.2.0, ``in: cookie`` only): ``form``'s shapes (``color=blue,black``; exploded
  ``color=blue; color=black`` and ``R=100; G=200``) with no percent-encoding or other escaping: a value is
  sent as given (OAS 3.2.0: "data values that require any sort of escaping MUST be provided in escaped
  form"). A value or name that cannot be sent as given without changing the cookies a server reads, one
  holding ``;`` (it would end the cookie) or CR, LF or NUL (it would end the header), and a name holding
  ``=``, is refused.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable, Mapping
from functools import lru_cache
from typing import Any, Protocol
from urllib.parse import quote

import msgspec

from totpflow.arazzo.errors import ExecutionError

_UNRESERVED = "-._~"  # with ALPHA / DIGIT, which quote() never encodes
# RFC 3986 reserved characters a query keeps with ``allowReserved``: all but "#", "[" and "]", which a query
# may not hold (OAS 3.1.1 Parameter Object: "still responsible for percent-encoding … ([, ], #)"; a "#" would
# end the request target there).
_QUERY_RESERVED = ":/?@!$&'()*+,;="
_COOKIE_SAFE = (
    # cookie-octet (RFC 6265 §4.1.1) but "%": a value is percent-encoded, so its own "%" is too ("a%20b" and
    # "a b" must not be the same cookie)
    "!#$&'()*+-./:<=>?@[]^_`{|}~"
)

DEFAULT_STYLE = {"path": "simple", "query": "form", "header": "simple", "cookie": "form"}
STYLES = {
    "path": frozenset({"simple", "label", "matrix"}),
    "query": frozenset({"form", "spaceDelimited", "pipeDelimited", "deepObject"}),
    "header": frozenset({"simple"}),
    "cookie": frozenset({"form", "cookie"}),  # cookie: OAS 3.2.0
}
# Swagger 2.0 ``collectionFormat`` values with a delimiter of their own, allowed in any ``in`` but body (a
# form body's are ``body.py``'s); ``csv`` and ``multi`` reach here as the OpenAPI 3 styles they are
COLLECTION_DELIMITERS = {"ssv": " ", "tsv": "\t", "pipes": "|"}
_COLLECTION_LOCATIONS = frozenset({"path", "query", "header"})


class ParameterInfo(Protocol):
    """What serialisation needs from an OpenAPI Parameter Object (``sources.OperationParameter`` fits)."""

    @property
    def style(self) -> str | None: ...

    @property
    def explode(self) -> bool | None: ...

    @property
    def allow_reserved(self) -> bool: ...


class RequestParts(msgspec.Struct):
    path_params: dict[str, str] = msgspec.field(default_factory=dict)
    query: list[tuple[str, str]] = msgspec.field(default_factory=list)
    headers: list[tuple[str, str]] = msgspec.field(default_factory=list)
    cookies: list[tuple[str, str]] = msgspec.field(default_factory=list)
    querystring: str | None = None  # Arazzo 1.1 / OAS 3.2 ``in: querystring``: the whole query, encoded

    def extend(self, other: RequestParts) -> None:
        if other.querystring is not None:
            self.querystring = other.querystring
        self.path_params.update(other.path_params)
        self.query.extend(other.query)
        self.headers.extend(other.headers)
        self.cookies.extend(other.cookies)

    def has_header(self, name: str) -> bool:
        lower = name.lower()
        return any(key.lower() == lower for key, _ in self.headers)

    def has_cookie(self, name: str) -> bool:
        return any(key == name for key, _ in self.cookies)

    def has_query(self, name: str) -> bool:
        encoded = _encode(name, allow_reserved=False)
        return any(key == encoded for key, _ in self.query)


def serialize_parameters(items: Iterable[tuple[ParameterInfo | None, str, str, Any]]) -> RequestParts:
    parts = RequestParts()
    for info, name, in_, value in items:
        serialize_parameter(info, name, in_, value, parts)
    return parts


def serialize_parameter(
    info: ParameterInfo | None, name: str, in_: str, value: Any, parts: RequestParts
) -> None:
    parameter_spec(info, name, in_).serialize(value, parts)


class ParameterSpec(msgspec.Struct, frozen=True):
    """How one parameter is serialised, decided once per step (``parameter_spec``) and applied per request.
    ``problem`` is a location or style the parameter may not have; it is raised when a value is serialised,
    so it fails the step that sends it."""

    name: str
    in_: str
    style: str
    explode: bool
    allow_reserved: bool
    problem: str | None = None
    media_type: str | None = None  # ``in: querystring``: the media type of the OpenAPI parameter's content

    def serialize(self, value: Any, parts: RequestParts) -> None:
        if self.problem is not None:
            raise ExecutionError(self.problem)
        name, in_ = self.name, self.in_
        if in_ == "querystring":
            parts.querystring = querystring_value(name, value, self.media_type)
            return
        if value is None:
            if in_ == "path":
                raise ExecutionError(f"path parameter {name!r} has no value")
            return
        if in_ == "path":
            if type(value) is str and self.style == "simple":
                parts.path_params[name] = quote(value, safe="")
            else:
                parts.path_params[name] = _path_value(name, value, self.style, self.explode)
        elif in_ == "query":
            if type(value) is str and self.style == "form":
                parts.query.append((quote(name, safe=""), _encode(value, allow_reserved=self.allow_reserved)))
            else:
                parts.query.extend(query_pairs(name, value, self.style, self.explode, self.allow_reserved))
        elif in_ == "header":
            if self.style in COLLECTION_DELIMITERS:
                text = _delimited(
                    "header parameter", name, value, self.style, _same, COLLECTION_DELIMITERS[self.style]
                )
            else:
                text = value if type(value) is str else _simple(value, self.explode, _same)
            if "\r" in text or "\n" in text or "\0" in text:
                # RFC 9110 §5.5: a field value never contains CR, LF or NUL; sending one would split the
                # header (request smuggling). The value is not quoted in the message: it may be a credential.
                raise ExecutionError(f"header parameter {name!r}: the value contains a line break or NUL")
            if text[:1] in (" ", "\t") or text[-1:] in (" ", "\t"):
                # RFC 9110 §5.5: whitespace around a field value is not part of it, and a recipient strips
                # it. A value is sent without it, as it would be read ("Bearer " is "Bearer"); but an
                # ssv/tsv array starting or ending with an empty item would lose that item, so it is refused.
                if self.style in COLLECTION_DELIMITERS:
                    raise ExecutionError(
                        f"header parameter {name!r}: collectionFormat {self.style} of an array whose first "
                        "or last item is empty would begin or end the value with whitespace, which a header "
                        "field value cannot carry"
                    )
                text = text.strip(" \t")
            parts.headers.append((name, text))
        else:
            parts.cookies.extend(_cookie_pairs(name, value, self.explode, self.style == "cookie"))


def parameter_spec(info: ParameterInfo | None, name: str, in_: str) -> ParameterSpec:
    """The serialisation of a parameter named ``name`` in ``in_``, from its OpenAPI Parameter Object (style,
    explode, allowReserved) or, with ``info`` None, the location's defaults."""
    if in_ == "querystring":
        media_type = getattr(info, "content_type", None) if info is not None else None
        return ParameterSpec(name, in_, "", False, False, None, media_type)
    if in_ not in DEFAULT_STYLE:
        return ParameterSpec(name, in_, "", False, False, f"parameter {name!r}: unsupported location {in_!r}")
    style = (info.style if info is not None else None) or DEFAULT_STYLE[in_]
    explode_given = info.explode if info is not None else None
    explode = explode_given if explode_given is not None else style in ("form", "cookie")
    allow_reserved = bool(info.allow_reserved) if info is not None else False
    collection_format = getattr(info, "collection_format", None) if info is not None else None
    if collection_format in COLLECTION_DELIMITERS and in_ in _COLLECTION_LOCATIONS:
        return ParameterSpec(name, in_, collection_format, False, False)
    problem = None
    if collection_format == "multi" and in_ != "query":
        problem = (
            f"parameter {name!r}: collectionFormat 'multi' is only allowed in query or formData, not in {in_}"
        )
    elif style not in STYLES[in_]:
        problem = f"parameter {name!r}: style {style!r} is not allowed in {in_}"
    return ParameterSpec(name, in_, style, explode, allow_reserved, problem)


_QUERY_SAFE = "!$&'()*+,;=:@/?%"  # RFC 3986 §3.4 query characters besides unreserved ones, and "%"
_FORM = "application/x-www-form-urlencoded"


def querystring_value(name: str, value: Any, media_type: str | None) -> str:
    """The whole query component from an ``in: querystring`` value (Arazzo 1.1 Parameter Object; OAS 3.2).

    The value MUST be a string. For ``application/x-www-form-urlencoded`` (also when the operation names no
    media type) it is the query as written: only characters a query may not hold are percent-encoded, so
    ``&``, ``=`` and existing ``%XX`` triplets stay. For any other media type (``application/json``) the
    whole serialised string is one percent-encoded value."""
    if not isinstance(value, str):
        kind = "null" if value is None else type(value).__name__
        raise ExecutionError(f"querystring parameter {name!r} must be a string, not {kind}")
    if media_type is None or media_type.split(";", 1)[0].strip().lower() == _FORM:
        return quote(_lone_percents(value), safe=_QUERY_SAFE)
    return quote(value, safe="")


_LONE_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")


def _lone_percents(text: str) -> str:
    """``text`` with each ``%`` that begins no percent-triplet written ``%25`` (RFC 3986 §2.4: a ``%`` is
    always the start of one), so that text kept as written with its triplets sends no malformed one."""
    return _LONE_PERCENT.sub("%25", text) if "%" in text else text


def _same(text: str) -> str:
    return text


# -- rendering -----------------------------------------------------------------------------------------


def scalar_text(value: Any) -> str:
    """A value as parameter or form text: booleans lower-case, numbers and containers as compact JSON."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return int.__repr__(value)  # JSON's rendering of an integer (an IntEnum's too)
    if isinstance(value, float):
        return float.__repr__(value) if math.isfinite(value) else json.dumps(value)
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", "replace")
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _encode(text: str, *, allow_reserved: bool, charset: str = "utf-8") -> str:
    # quote() keeps ALPHA / DIGIT / "_.-~" always; with allowReserved the reserved set too, and an existing
    # percent-triplet is then kept as written (OpenAPI: "allowReserved … without percent-encoding"). Other
    # characters are percent-encoded as ``charset`` writes them (UnicodeEncodeError when it cannot).
    if text.isascii() and text.isalnum():  # nothing to encode (the common case)
        return text
    if allow_reserved:
        return quote(_lone_percents(text), safe=_QUERY_RESERVED + "%", encoding=charset)
    return quote(text, safe="", encoding=charset)


def _items(value: Mapping[Any, Any]) -> list[tuple[str, Any]]:
    return [(str(key), item) for key, item in value.items()]


def _simple(value: Any, explode: bool, enc: Callable[[str], str]) -> str:
    """``simple`` style (RFC 6570 ``{var}`` / ``{var*}``), also the body of label and matrix."""
    if isinstance(value, Mapping):
        if explode:
            return ",".join(f"{enc(key)}={enc(scalar_text(item))}" for key, item in _items(value))
        return ",".join(f"{enc(key)},{enc(scalar_text(item))}" for key, item in _items(value))
    if isinstance(value, list | tuple):
        return ",".join(enc(scalar_text(item)) for item in value)
    return enc(scalar_text(value))


def _path_value(name: str, value: Any, style: str, explode: bool) -> str:
    def enc(text: str) -> str:
        return _encode(text, allow_reserved=False)

    if style == "simple":
        return _simple(value, explode, enc)
    if style in COLLECTION_DELIMITERS:  # the delimiter percent-encoded, as a path segment needs it
        return _delimited("path parameter", name, value, style, enc, enc(COLLECTION_DELIMITERS[style]))
    if style == "label":
        if explode and isinstance(value, Mapping):
            return "".join(f".{enc(key)}={enc(scalar_text(item))}" for key, item in _items(value))
        if explode and isinstance(value, list | tuple):
            return "".join(f".{enc(scalar_text(item))}" for item in value)
        return "." + _simple(value, False, enc)
    # matrix
    key = enc(name)
    if isinstance(value, Mapping):
        if explode:
            return "".join(
                f";{enc(k)}" + (f"={enc(scalar_text(item))}" if scalar_text(item) else "")
                for k, item in _items(value)
            )
        return f";{key}=" + _simple(value, False, enc)
    if isinstance(value, list | tuple):
        if explode:
            return "".join(f";{key}={enc(scalar_text(item))}" for item in value)
        return f";{key}=" + _simple(value, False, enc)
    text = scalar_text(value)
    return f";{key}={enc(text)}" if text else f";{key}"


def query_pairs(
    name: str,
    value: Any,
    style: str,
    explode: bool,
    allow_reserved: bool,
    charset: str = "utf-8",
    what: str = "query parameter",
) -> list[tuple[str, str]]:
    """A query parameter (or a form body's property with a ``style``) as percent-encoded name/value pairs,
    characters outside ASCII written in ``charset`` (a form body's; UnicodeEncodeError when it cannot);
    ``what`` names the value in an ``ExecutionError``."""

    def enc(text: str) -> str:
        return _encode(text, allow_reserved=allow_reserved, charset=charset)

    def name_of(text: str) -> str:
        return _encode(text, allow_reserved=False, charset=charset)

    key = name_of(name)
    if style == "deepObject":
        # The brackets are delimiters RFC 3986 allows in no query, so they are percent-encoded
        # (``color%5BR%5D=100``), as the Style Examples of OAS 3.0.4, 3.1.1 and 3.2.0 write them and their
        # Appendix E requires; ``explode`` has no effect (OAS 3.2.0)
        if not isinstance(value, Mapping):
            raise ExecutionError(f"{what} {name!r}: deepObject needs an object value")
        return [(f"{key}%5B{name_of(k)}%5D", enc(scalar_text(item))) for k, item in _items(value)]
    if style in ("spaceDelimited", "pipeDelimited") and not explode:
        delimiter = "%20" if style == "spaceDelimited" else "%7C"
        return [(key, _delimited(what, name, value, style, enc, delimiter))]
    if style in COLLECTION_DELIMITERS:  # Swagger 2.0 ssv / tsv / pipes
        delimiter = quote(COLLECTION_DELIMITERS[style], safe="")
        return [(key, _delimited(what, name, value, style, enc, delimiter))]
    if style in ("spaceDelimited", "pipeDelimited") and isinstance(value, Mapping):
        # Exploded space/pipe-delimited is n/a (undefined) in the Style Examples table of OAS 3.0.4, 3.1.1 and
        # 3.2.0 (absent before). An array repeats the key below, as the explode field reads ("separate
        # parameters for each value"); an object would lose the parameter's name and the delimiter both
        # (``R=100&G=200``), which no reader of a delimited parameter finds, so it is refused.
        raise ExecutionError(
            f"{what} {name!r}: {style} with explode true has no serialisation for an object "
            "(OpenAPI Style Examples: n/a); set explode to false"
        )
    # form (and exploded space/pipe-delimited with an array or a primitive, serialised as exploded form)
    if isinstance(value, Mapping):
        if explode:
            return [(name_of(k), enc(scalar_text(item))) for k, item in _items(value)]
        return [(key, _simple(value, False, enc))]
    if isinstance(value, list | tuple):
        if explode:
            return [(key, enc(scalar_text(item))) for item in value]
        return [(key, _simple(value, False, enc))]
    return [(key, enc(scalar_text(value)))]


def _delimited(
    what: str, name: str, value: Any, style: str, enc: Callable[[str], str], delimiter: str
) -> str:
    """An array's items, or an object's keys and values, each through ``enc`` and joined by ``delimiter``
    (``spaceDelimited``, ``pipeDelimited``; Swagger 2.0 ``ssv``, ``tsv``, ``pipes``). A primitive value
    raises ``ExecutionError`` (the OpenAPI style table has no such row). Nothing tells a delimiter from the
    same character inside an item: the formats have no escape."""
    if isinstance(value, Mapping):
        flat = [text for k, item in _items(value) for text in (k, scalar_text(item))]
    elif isinstance(value, list | tuple):
        flat = [scalar_text(item) for item in value]
    else:
        written = f"collectionFormat {style}" if style in COLLECTION_DELIMITERS else style
        raise ExecutionError(f"{what} {name!r}: {written} needs an array or object value")
    return delimiter.join(enc(text) for text in flat)


def cookie_value(text: str) -> str:
    """``text`` as a cookie's value: the octets RFC 6265 §4.1.1 does not allow (space, ``"``, ``,``, ``;``,
    ``\\``, controls, non-ASCII) and ``%`` percent-encoded, so no value can end the cookie or add another."""
    return quote(text, safe=_COOKIE_SAFE)


def _cookie_pairs(name: str, value: Any, explode: bool, as_given: bool = False) -> list[tuple[str, str]]:
    """``form`` cookies, their values through ``cookie_value``; with ``as_given`` the ``cookie`` style's (OAS
    3.2.0), nothing escaped, and ``ExecutionError`` for a name or value that would change the cookies sent."""
    enc: Callable[[str], str] = _same if as_given else cookie_value
    if isinstance(value, Mapping):
        if explode:
            pairs = [(k, enc(scalar_text(item))) for k, item in _items(value)]
        else:
            pairs = [(name, _simple(value, False, enc))]
    elif isinstance(value, list | tuple):
        if explode:
            pairs = [(name, enc(scalar_text(item))) for item in value]
        else:
            pairs = [(name, _simple(value, False, enc))]
    else:
        pairs = [(name, enc(scalar_text(value)))]
    for key, text in pairs:
        if _COOKIE_BREAK.search(key) or "=" in key:
            # a cookie's name is sent as it is in either style (RFC 6265 §4.1.1: a token): one holding these
            # would end the cookie, add another or end the header line
            raise ExecutionError(
                f"cookie parameter {name!r}: the cookie name {key!r} holds '=', ';' or a line break or NUL"
            )
        if as_given and _COOKIE_BREAK.search(text):
            # not quoted: the value may be a credential
            raise ExecutionError(
                f"cookie parameter {name!r}: the value holds ';' or a line break or NUL, which style "
                "cookie sends unescaped (OAS 3.2.0: give it in escaped form)"
            )
    return pairs


_COOKIE_BREAK = re.compile("[;\r\n\0]")  # ends a cookie (";") or the Cookie header line


# -- assembling ----------------------------------------------------------------------------------------

_TEMPLATE_VARIABLE = re.compile(r"\{([^{}]+)\}")


def expand_path(template: str, path_params: Mapping[str, str]) -> str:
    """Put already-encoded values into an OpenAPI path template (§4.8.8 "Path Templating").

    A variable without a value raises ``ExecutionError``: a literal ``{id}`` would hit the wrong resource.
    """

    pieces = _template_pieces(template)
    if len(pieces) == 1:
        return template
    out = []
    for index, piece in enumerate(pieces):
        if index % 2 == 0:
            out.append(piece)
        elif piece in path_params:
            out.append(path_params[piece])
        else:
            raise ExecutionError(f"path parameter {piece!r} of {template!r} has no value")
    return "".join(out)


@lru_cache(maxsize=1024)
def _template_pieces(template: str) -> list[str]:
    """``"/a/{x}/b"`` → ``["/a/", "x", "/b"]``: literal text at even positions, variable names at odd ones."""
    return _TEMPLATE_VARIABLE.split(template)


def query_string(pairs: Iterable[tuple[str, str]]) -> str:
    return "&".join(f"{key}={value}" for key, value in pairs)


def cookie_header(pairs: Iterable[tuple[str, str]]) -> str:
    return "; ".join(f"{key}={value}" for key, value in pairs)
