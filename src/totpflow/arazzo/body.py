"""Request bodies: choose the media type, apply payload replacements, encode the payload to bytes.

Public API::

    choose_content_type(request_body, operation_content_types) -> str
        RequestBody.contentType, else the operation's first request media type, else application/json
        (Arazzo 1.0.1 Request Body Object: "If omitted, the content type of the operation is used").
    apply_replacements(payload, replacements, content_type) -> payload
        replacements: [(target, value)] with values already evaluated. Targets are RFC 6901 JSON Pointers
        for JSON and objects (and form objects), XPath for XML strings (a selected element gets the value as
        its text, a selected attribute gets it as its value), and a field name (``/name`` or ``name``) for a
        pre-encoded form string. Spec: Payload Replacement Object.
    apply_replacements(payload, replacements, content_type, selector_types) -> payload
        Arazzo 1.1 ``targetSelectorType`` per replacement (None: the default above): ``jsonpointer``,
        ``jsonpath`` (every selected node is replaced; a query that selects nothing fails, as an XPath does)
        or ``xpath`` with its version; a JSON selector on an XML payload, or XPath on JSON, fails.
    encode_body(content_type, payload, *, boundary=None, encodings=None) -> tuple[bytes | None, str | None]
        → (bytes to send, Content-Type header to send). ``None`` payload → (None, None): no body.
        ``encodings``: the operation's Encoding Objects of this media type, by property (``PartEncoding``).

Encodings by media type (parameters such as ``; charset=utf-8`` are kept in the header; text, JSON text
included, is written in the ``charset`` named, UTF-8 when none is):

- ``application/json`` and ``*/*+json``: objects, arrays and scalars are serialised as JSON (UTF-8). A str
  is taken as JSON text already (the spec's "JSON string template" example) when it parses as JSON,
  otherwise it is sent as a JSON string. bytes are sent as they are.
- ``application/x-www-form-urlencoded``: an object becomes ``k=v&…`` (WHATWG form encoding, arrays repeat
  the key, nested objects are sent as JSON text, a null property is left out); a str is taken as already
  encoded. A property whose
  Encoding Object writes ``style``, ``explode`` or ``allowReserved`` is serialised as a query parameter of
  that style (``form`` by default; ``deepObject``, ``spaceDelimited``, ``pipeDelimited``); one whose
  ``contentType`` is JSON sends an array as JSON text instead of repeating the key (OAS 3.1.1 §4.8.15).
- ``multipart/form-data`` (RFC 7578): an object becomes one part per property; str → a text part, bytes or a
  file-like object (``.read()``) → a file part (``application/octet-stream``, filename from ``.name``), an
  object/array → an ``application/json`` part; a list of str/bytes repeats the part. A str for a property
  whose schema describes a file (``format: binary``, a ``contentMediaType`` of neither text nor JSON,
  Swagger 2.0 ``type: file``; ``sources.openapi.file_schema``) is a file part too, of that media type, its
  filename the property's name (as RFC 7578 §4.2 asks of file content, and as bytes get). A boundary is
  generated (``secrets``) unless given. A property's Encoding Object ``contentType`` (the first type it
  lists, unless that is a range) is the part's type: a JSON type writes the value as JSON (an array as one
  part, a str as a JSON string, whatever its text), another type writes text in its charset or bytes as they
  are, and refuses an object or array.
- ``text/*``, ``application/xml``, ``*/*+xml``: a str is sent as it is (UTF-8); a number or boolean as its
  text; an object or array is rejected with ``ExecutionError`` (there is no standard mapping to XML).
- ``application/octet-stream`` and anything else: bytes or str as they are; objects/arrays rejected.
- A media range (``*/*``, ``application/*``, as an operation may list) is no ``Content-Type``: the payload is
  sent as JSON (a structure or scalar), ``text/plain`` (text) or ``application/octet-stream`` (bytes) when the
  range admits it, else refused.
"""

from __future__ import annotations

import codecs
import json
import math
from collections.abc import Mapping, Sequence
from functools import lru_cache
from os.path import basename
from typing import Any, Protocol
from urllib.parse import quote_plus, unquote_plus, urlencode

import msgspec

from totpflow.arazzo.errors import EvaluationError, ExecutionError
from totpflow.arazzo.expressions import pointer
from totpflow.arazzo.params import STYLES, query_pairs, scalar_text

DEFAULT_CONTENT_TYPE = "application/json"
_FORM = "application/x-www-form-urlencoded"


class _HasRequestBody(Protocol):
    @property
    def content_type(self) -> str | None: ...


class PartEncoding(Protocol):
    """An OpenAPI Encoding Object of one property (``sources.openapi.PropertyEncoding``)."""

    @property
    def content_type(self) -> str | None: ...
    @property
    def style(self) -> str | None: ...
    @property
    def explode(self) -> bool | None: ...
    @property
    def allow_reserved(self) -> bool | None: ...
    @property
    def file(self) -> bool: ...


def media_type(content_type: str | None) -> str:
    """``"Application/JSON; charset=utf-8"`` → ``"application/json"``."""
    return (content_type or "").split(";", 1)[0].strip().lower()


@lru_cache(maxsize=256)
def charset(content_type: str | None) -> str | None:
    """The ``charset`` parameter of a content type (RFC 9110 §8.3.1), unquoted; None when absent."""
    for parameter in (content_type or "").split(";")[1:]:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset":
            return value.strip().strip('"') or None
    return None


@lru_cache(maxsize=256)
def text_codec(name: str | None) -> str | None:
    """The codec a ``charset`` names when it is a text encoding Python knows (its canonical name); None for
    an unknown name or a codec that is no text encoding (``base64``, ``rot13``)."""
    if name is None:
        return None
    try:
        canonical = codecs.lookup(name).name
        "".encode(canonical)  # LookupError for a bytes-to-bytes or text-to-text codec
    except (LookupError, ValueError):  # ValueError: a NUL in the name; UnicodeError: "undefined"
        return None
    return canonical


def record_charset(content_type: str | None) -> str:
    """The charset a sent body is read back in for its record: its content type's, UTF-8 when it names none
    or one that is no text encoding Python knows, and for a form (percent-encoded ASCII) or multipart (its
    parts name their own)."""
    kind = media_type(content_type)
    if kind.startswith("multipart/") or kind == _FORM:
        return "utf-8"
    return text_codec(charset(content_type)) or "utf-8"


def masked_charsets(
    content_type: str | None, encodings: Mapping[str, PartEncoding] | None
) -> tuple[str, ...]:
    """The charsets other than UTF-8 in whose bytes a body's secrets must be masked before the body is read
    back as text: a form's (its percent-encoded bytes) and those a multipart body's parts name. Any other
    body is read back in its own charset (``record_charset``), where its secrets are text again."""
    kind = media_type(content_type)
    named: list[str | None]
    if kind == _FORM:
        named = [form_charset(content_type)]
    elif kind.startswith("multipart/") and encodings:
        named = [text_codec(charset(encoding.content_type)) for encoding in encodings.values()]
    else:
        return ()
    return tuple(dict.fromkeys(name for name in named if name is not None and name != "utf-8"))


def form_charset(content_type: str | None) -> str:
    """The charset a form body's percent-encoded text is written in (the WHATWG urlencoded serializer's
    encoding): its content type's, UTF-8 when it names none and for UTF-16 and UTF-32, which WHATWG never
    writes; ``ExecutionError`` for one that is no text encoding Python knows."""
    declared = charset(content_type)
    if declared is None:
        return "utf-8"
    codec = text_codec(declared)
    if codec is None:
        raise ExecutionError(f"request body: unknown charset {declared!r} in {content_type!r}")
    return "utf-8" if codec.startswith(("utf-16", "utf-32")) else codec


def with_boundary(named: str, encoded: str) -> str:
    """A multipart content type a step names itself (a ``Content-Type`` header parameter) with the boundary
    of the body it was encoded with (``encoded``), unless it names one; any other type as it is."""
    if not media_type(named).startswith("multipart/") or "boundary=" in named.lower():
        return named
    return f"{named}; boundary={encoded.split('boundary=', 1)[1]}"


def is_json(content_type: str | None) -> bool:
    kind = media_type(content_type)
    return kind == "application/json" or kind.endswith("+json")


def is_xml(content_type: str | None) -> bool:
    kind = media_type(content_type)
    return kind in ("application/xml", "text/xml") or kind.endswith("+xml")


def is_form(content_type: str | None) -> bool:
    return media_type(content_type) == _FORM


def is_multipart(content_type: str | None) -> bool:
    return media_type(content_type).startswith("multipart/")


def choose_content_type(
    request_body: _HasRequestBody | None, operation_content_types: Sequence[str] = ()
) -> str:
    if request_body is not None and request_body.content_type:
        return request_body.content_type
    for content_type in operation_content_types:
        if content_type:
            return content_type
    return DEFAULT_CONTENT_TYPE


# -- replacements --------------------------------------------------------------------------------------


def apply_replacements(
    payload: Any,
    replacements: Sequence[tuple[str, Any]],
    content_type: str | None,
    selector_types: Sequence[Any] = (),
) -> Any:
    if not replacements:
        return payload
    if any(kind is not None for kind in selector_types):
        return _apply_typed(payload, replacements, content_type, selector_types)
    if isinstance(payload, str) and is_xml(content_type):
        return _replace_xml(payload, replacements)
    if isinstance(payload, str) and is_form(content_type):
        return _replace_form_string(payload, replacements, content_type or "")
    if isinstance(payload, str) and is_json(content_type):
        try:
            payload = json.loads(payload)
        except ValueError as exc:
            raise ExecutionError("payload replacement: the JSON payload text does not parse") from exc
    result = payload
    for target, value in replacements:
        result = _pointer_replace(result, target, value)
    return result


def _apply_typed(
    payload: Any, replacements: Sequence[tuple[str, Any]], content_type: str | None, kinds: Sequence[Any]
) -> Any:
    from totpflow.arazzo.expressions.selector import expression_type

    xml = isinstance(payload, str) and is_xml(content_type)
    if isinstance(payload, str) and not xml:
        if not is_json(content_type):
            raise ExecutionError("payload replacement: 'targetSelectorType' needs a JSON or XML payload")
        try:
            payload = json.loads(payload)
        except ValueError as exc:
            raise ExecutionError("payload replacement: the JSON payload text does not parse") from exc
    result = payload
    for index, (target, value) in enumerate(replacements):
        given = kinds[index] if index < len(kinds) else None
        typed = expression_type(given) if given is not None else None
        if given is None:
            typed = ("xpath", "xpath-31") if xml else ("jsonpointer", "rfc6901")
        if typed is None:
            raise ExecutionError(f"payload replacement: unknown targetSelectorType {given!r}")
        kind, version = typed
        if xml != (kind == "xpath"):
            payload_kind = "an XML" if xml else "a JSON"
            raise ExecutionError(
                f"payload replacement: a {kind} target cannot select in {payload_kind} payload"
            )
        if kind == "xpath":
            result = _replace_xml(result, [(target, value)], version)
        elif kind == "jsonpointer":
            result = _pointer_replace(result, target, value)
        else:
            result = _jsonpath_replace(result, target, value)
    return result


def _jsonpath_replace(document: Any, target: str, value: Any) -> Any:
    from totpflow.arazzo.errors import ExpressionError
    from totpflow.arazzo.expressions.selector import compile_query

    try:
        query = compile_query("jsonpath", "rfc9535", target)
    except ExpressionError as exc:
        raise ExecutionError(
            f"payload replacement: JSONPath {target!r} is not valid ({exc.message})"
        ) from None
    nodes = query.find(document)
    if not nodes:
        raise ExecutionError(f"payload replacement: JSONPath {target!r} selects nothing in the payload")
    for node in nodes:
        document = _pointer_replace(document, pointer.join([str(token) for token in node.location]), value)
    return document


def _pointer_replace(document: Any, target: str, value: Any) -> Any:
    """RFC 6901 replacement; a missing last member is added and ``-`` appends (``pointer.replace``)."""
    try:
        return pointer.replace(document, target, value)
    except EvaluationError as exc:
        raise ExecutionError(f"payload replacement: target {target!r}: {exc.message}") from exc


def _replace_form_string(payload: str, replacements: Sequence[tuple[str, Any]], content_type: str) -> str:
    """A pre-encoded form body with the fields each target names set to its value (every field of that name;
    a name not in the form is added at its end). The other fields stay exactly as written."""
    written = form_charset(content_type)
    fields = payload.split("&") if payload else []
    for target, value in replacements:
        tokens = pointer.split(target) if target.startswith("/") else (target,)
        if len(tokens) != 1:
            raise ExecutionError(f"payload replacement: form field target {target!r} must name one field")
        name = tokens[0]
        try:
            encoded = quote_plus(scalar_text(value), encoding=written)
            named = quote_plus(name, encoding=written)
        except UnicodeEncodeError:
            raise ExecutionError(
                f"payload replacement: form field {target!r}: the value holds a character that charset"
                f" {written!r} cannot write"
            ) from None
        found = False
        for index, field in enumerate(fields):
            key = field.split("=", 1)[0]
            if unquote_plus(key, encoding=written, errors="replace") == name:
                fields[index] = f"{key}={encoded}"
                found = True
        if not found:
            fields.append(f"{named}={encoded}")
    return "&".join(fields)


def _replace_xml(payload: str, replacements: Sequence[tuple[str, Any]], version: str | None = None) -> str:
    """``payload`` with each XPath target's elements (their text) and attributes (their value) set; XPath
    1.0 through lxml, the later versions through ``elementpath`` over ElementTree."""
    engine: _XmlEngine = _LxmlEngine() if version == "xpath-10" else _ElementPathEngine(version)
    declaration = payload.lstrip().startswith("<?xml")
    root = engine.parse(payload)
    for target, value in replacements:
        text = value if isinstance(value, str) else scalar_text(value)
        nodes = engine.select(root, target)
        if not nodes:
            raise ExecutionError(f"payload replacement: XPath {target!r} selects nothing in the payload")
        for node in nodes:
            if not engine.write(node, text, target):
                raise ExecutionError(
                    f"payload replacement: XPath {target!r} must select elements or attributes"
                )
    body = engine.serialise(root)
    return ('<?xml version="1.0" encoding="UTF-8"?>\n' + body) if declaration else body


class _XmlEngine(Protocol):
    """Parse a payload, select a target's nodes, write one, serialise: ``ExecutionError`` for a payload
    that does not parse or a target that is no XPath."""

    def parse(self, payload: str) -> Any: ...
    def select(self, root: Any, target: str) -> list[Any]: ...
    def write(self, node: Any, text: str, target: str) -> bool: ...
    def serialise(self, root: Any) -> str: ...


class _ElementPathEngine:
    def __init__(self, version: str | None) -> None:
        self.version = version

    def parse(self, payload: str) -> Any:
        from xml.etree import ElementTree

        try:
            return ElementTree.fromstring(payload)
        except ElementTree.ParseError as exc:
            raise ExecutionError(f"payload replacement: the XML payload does not parse ({exc})") from exc

    def select(self, root: Any, target: str) -> list[Any]:
        import elementpath  # imported only when an XML body needs it

        from totpflow.arazzo.expressions.selector import xpath_parser

        try:
            # ``select`` on the parsed token yields nodes (element and attribute nodes), where the top-level
            # ``elementpath.select`` would give an attribute's string value, which cannot be written back.
            token = xpath_parser(self.version)().parse(target)
            return list(token.select(elementpath.XPathContext(root)))
        except elementpath.ElementPathError as exc:
            raise ExecutionError(f"payload replacement: XPath {target!r} is not valid ({exc})") from exc

    def write(self, node: Any, text: str, target: str) -> bool:
        from xml.etree import ElementTree

        element = getattr(node, "elem", None)  # an element node wraps the ElementTree element it selected
        if isinstance(element, ElementTree.Element):
            element.text = text
            return True
        # An attribute node: ``name`` plus its parent element node.
        name = getattr(node, "name", None)
        parent = getattr(getattr(node, "parent", None), "elem", None)
        if getattr(node, "node_kind", None) == "attribute" and isinstance(name, str):
            if isinstance(parent, ElementTree.Element):
                parent.set(name, text)
                return True
        return False

    def serialise(self, root: Any) -> str:
        from xml.etree import ElementTree

        return ElementTree.tostring(root, encoding="unicode")


class _LxmlEngine:
    """XPath 1.0 targets (``expressions.xpath10``)."""

    def parse(self, payload: str) -> Any:
        from totpflow.arazzo.expressions import xpath10

        try:
            return xpath10.parse(payload)
        except xpath10.XPathFailure as exc:
            raise ExecutionError(
                f"payload replacement: the XML payload does not parse ({exc.message})"
            ) from None

    def select(self, root: Any, target: str) -> list[Any]:
        from totpflow.arazzo.expressions import xpath10

        try:
            nodes = xpath10.evaluate(xpath10.compile_xpath(target), root)
        except xpath10.XPathFailure as exc:
            raise ExecutionError(
                f"payload replacement: XPath {target!r} is not valid ({exc.message})"
            ) from None
        return nodes if isinstance(nodes, list) else []

    def write(self, node: Any, text: str, target: str) -> bool:
        from totpflow.arazzo.expressions import xpath10

        try:
            return xpath10.set_node(node, text)
        except xpath10.XPathFailure as exc:
            raise ExecutionError(f"payload replacement: XPath {target!r}: {exc.message}") from None

    def serialise(self, root: Any) -> str:
        from totpflow.arazzo.expressions import xpath10

        return xpath10.serialise(root)


# -- encoding ------------------------------------------------------------------------------------------


def encode_body(
    content_type: str | None,
    payload: Any,
    *,
    boundary: str | None = None,
    encodings: Mapping[str, PartEncoding] | None = None,
) -> tuple[bytes | None, str | None]:
    if payload is None:
        return None, None
    content_type = content_type or DEFAULT_CONTENT_TYPE
    if "*" in media_type(content_type):
        content_type = _concrete(content_type, payload)
    if is_json(content_type):
        encoded = _encode_json(payload)
        if charset(content_type) is not None and not isinstance(payload, bytes | bytearray):
            encoded = _in_charset(encoded.decode("utf-8"), content_type)  # the JSON text, in that charset
        return encoded, content_type
    if is_form(content_type):
        return _encode_form(payload, encodings or {}, content_type), content_type
    if media_type(content_type) == "multipart/form-data":
        if isinstance(payload, bytes | str):
            return _as_bytes(payload, content_type), content_type  # pre-encoded; boundary must be in the type
        if not isinstance(payload, Mapping):
            raise ExecutionError("request body: multipart/form-data needs an object payload")
        import secrets

        boundary = boundary or secrets.token_hex(16)
        return _encode_multipart(
            payload, boundary, encodings or {}
        ), f"multipart/form-data; boundary={boundary}"
    return _as_bytes(payload, content_type), content_type


def _concrete(media_range: str, payload: Any) -> str:
    """The content type to send for an operation's media range (``*/*``, ``application/*``): a range is for
    ``Accept``, not ``Content-Type`` (RFC 9110 §8.3), so the type the payload is written as, within the range:
    JSON for a structure or a scalar, ``text/plain`` for text, ``application/octet-stream`` for bytes."""
    if isinstance(payload, bytes | bytearray) or hasattr(payload, "read"):
        wanted = "application/octet-stream"
    elif isinstance(payload, str):
        wanted = "text/plain; charset=utf-8"
    else:
        wanted = "application/json"
    kind, _, _ = media_type(media_range).partition("/")
    if kind not in ("*", media_type(wanted).split("/")[0]):
        raise ExecutionError(
            f"request body: a {type(payload).__name__} payload has no type within {media_type(media_range)};"
            " name one with the request body's contentType"
        )
    return wanted


def _as_bytes(payload: Any, content_type: str) -> bytes:
    if isinstance(payload, bytes | bytearray):
        return bytes(payload)
    if isinstance(payload, str):
        return _in_charset(payload, content_type)
    if isinstance(payload, bool | int | float):
        return _in_charset(scalar_text(payload), content_type)
    if hasattr(payload, "read"):
        data = payload.read()
        return data if isinstance(data, bytes) else str(data).encode("utf-8")
    raise ExecutionError(
        f"request body: a {type(payload).__name__} payload cannot be sent as {media_type(content_type)};"
        " give the body as a string, or use a JSON, form or multipart content type"
    )


def _in_charset(text: str, content_type: str) -> bytes:
    """``text`` in the ``charset`` its content type names (RFC 9110 §8.3.2), UTF-8 when it names none;
    ``ExecutionError`` for a charset Python does not know or a character it cannot write."""
    declared = charset(content_type)
    if declared is None or declared.lower() in ("utf-8", "utf8"):
        return text.encode("utf-8")
    codec = text_codec(declared)
    if codec is None:
        raise ExecutionError(f"request body: unknown charset {declared!r} in {content_type!r}")
    try:
        return text.encode(codec)
    except UnicodeEncodeError as exc:
        raise ExecutionError(
            f"request body: character {exc.start + 1} of the body cannot be written in charset {declared!r}"
        ) from None


def _encode_json(payload: Any) -> bytes:
    if isinstance(payload, bytes | bytearray):
        return bytes(payload)
    if isinstance(payload, str):
        try:
            json.loads(payload)
        except ValueError:
            return json.dumps(payload, ensure_ascii=False).encode("utf-8")
        return payload.encode("utf-8")
    try:
        encoded = msgspec.json.encode(payload)  # compact, UTF-8: as json.dumps(ensure_ascii=False, …)
    except (TypeError, msgspec.EncodeError, OverflowError):
        pass  # what msgspec does not take (odd key types): the standard library decides
    else:
        if b"null" in encoded and _non_finite(payload):  # msgspec writes an infinity or a NaN as null
            raise ExecutionError("request body: JSON has no form for an infinity or NaN in the payload")
        return encoded
    try:
        return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8")
    except (TypeError, ValueError) as exc:
        raise ExecutionError(f"request body: the payload is not JSON-serialisable ({exc})") from exc


def _non_finite(value: Any) -> bool:
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, Mapping):
        return any(_non_finite(item) for item in value.values())
    if isinstance(value, list | tuple):
        return any(_non_finite(item) for item in value)
    return False


def _encode_form(payload: Any, encodings: Mapping[str, PartEncoding], content_type: str) -> bytes:
    if isinstance(payload, bytes | bytearray):
        return bytes(payload)
    written = form_charset(content_type)
    if isinstance(payload, str):
        return _in_charset(payload, f"{_FORM}; charset={written}")
    if not isinstance(payload, Mapping):
        raise ExecutionError("request body: application/x-www-form-urlencoded needs an object or a string")
    pieces: list[str] = []
    try:
        for key, value in payload.items():
            if value is None:  # no form for null: left out, as a null parameter or multipart part is
                continue
            name = str(key)
            encoding = encodings.get(name)
            if encoding is not None and _styled(encoding):
                pieces.extend(f"{k}={v}" for k, v in _styled_pairs(name, value, encoding, written))
            elif isinstance(value, list | tuple) and not (
                encoding is not None and is_json(encoding.content_type)
            ):
                if value:
                    pieces.append(urlencode([(name, scalar_text(item)) for item in value], encoding=written))
            else:
                pieces.append(urlencode([(name, scalar_text(value))], encoding=written))
    except UnicodeEncodeError:
        raise ExecutionError(  # which character is not said: it may be part of a secret
            f"request body: a value of the form holds a character that charset {written!r} cannot write"
        ) from None
    return "&".join(pieces).encode("ascii")


def _styled(encoding: PartEncoding) -> bool:
    """Whether an Encoding Object serialises its property by style: it writes ``style``, ``explode`` or
    ``allowReserved`` (OAS 3.1.1 §4.8.15.1: then its ``contentType`` is ignored)."""
    return encoding.style is not None or encoding.explode is not None or encoding.allow_reserved is not None


def form_style_problem(name: str, encoding: PartEncoding) -> str | None:
    """Why a form body cannot serialise its property ``name`` as ``encoding`` says (a style a query
    parameter cannot have), or None."""
    style = encoding.style or "form"
    if _styled(encoding) and style not in STYLES["query"]:
        return f"property {name!r}: style {style!r} is not allowed in a form body"
    return None


def _styled_pairs(name: str, value: Any, encoding: PartEncoding, written: str) -> list[tuple[str, str]]:
    problem = form_style_problem(name, encoding)
    if problem is not None:
        raise ExecutionError(f"request body: {problem}")
    style = encoding.style or "form"
    explode = encoding.explode if encoding.explode is not None else style == "form"
    reserved = bool(encoding.allow_reserved)
    return query_pairs(name, value, style, explode, reserved, written, "request body: property")


def _quote_header_value(text: str) -> str:
    # RFC 7578 §4.2: the name/filename parameters are quoted strings; escape the quote and line breaks.
    return text.replace("\\", "\\\\").replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")


def _encode_multipart(
    payload: Mapping[str, Any], boundary: str, encodings: Mapping[str, PartEncoding]
) -> bytes:
    out: list[bytes] = []

    def part(name: str, data: bytes, content_type: str | None, filename: str | None) -> None:
        disposition = f'form-data; name="{_quote_header_value(name)}"'
        if filename is not None:
            disposition += f'; filename="{_quote_header_value(filename)}"'
        head = f"--{boundary}\r\nContent-Disposition: {disposition}\r\n"
        if content_type:
            head += f"Content-Type: {content_type}\r\n"
        out.append(head.encode("utf-8") + b"\r\n" + data + b"\r\n")

    def add(name: str, value: Any, declared: str | None, file: bool) -> None:
        if value is None:
            return
        if file and isinstance(value, str):  # a file's content given as text: a file part, as bytes are
            data = _in_charset(value, declared) if declared and charset(declared) else value.encode("utf-8")
            part(name, data, declared or "application/octet-stream", name)
        elif isinstance(value, bytes | bytearray):
            part(name, bytes(value), declared or "application/octet-stream", name)
        elif hasattr(value, "read"):
            data = value.read()
            raw = data if isinstance(data, bytes) else str(data).encode("utf-8")
            filename = basename(str(getattr(value, "name", "") or name))
            part(name, raw, declared or "application/octet-stream", filename)
        elif declared is not None and is_json(declared):
            # the value's JSON: a string is a JSON string even when its text reads as JSON ("123" is not the
            # number 123), as the Encoding Object serialises the value the payload gives, which a JSON body
            # given as text (a JSON string template) is not
            encoded = (
                json.dumps(value, ensure_ascii=False).encode("utf-8")
                if isinstance(value, str)
                else _encode_json(value)
            )
            if charset(declared) is not None:  # the JSON text, in the charset the part names
                encoded = _in_charset(encoded.decode("utf-8"), declared)
            part(name, encoded, declared, None)
        elif isinstance(value, str | bool | int | float):
            text = scalar_text(value)
            part(name, _in_charset(text, declared) if declared else text.encode("utf-8"), declared, None)
        elif declared is None:
            part(name, _encode_json(value), "application/json", None)
        else:
            raise ExecutionError(
                f"request body: part {name!r}: a {type(value).__name__} value cannot be written as"
                f" {media_type(declared)} (its Encoding Object's contentType)"
            )

    for key, value in payload.items():
        name = str(key)
        encoding = encodings.get(name)
        declared = encoding.content_type if encoding is not None else None
        file = encoding is not None and encoding.file
        if declared is not None and "*" in media_type(declared):
            declared = None  # a range names no type to send: the value's own
        if (
            isinstance(value, list | tuple)
            and not (declared is not None and is_json(declared) and not file)
            and all(isinstance(item, str | bytes) for item in value)
        ):
            for item in value:
                add(name, item, declared, file)
        else:
            add(name, value, declared, file)
    out.append(f"--{boundary}--\r\n".encode("ascii"))
    return b"".join(out)
