"""Secret masking: one ``Masker`` that every recorded request, response, output and report passes through.

Public API::

    MASK = "********"
    Masker(secrets=(), *, sensitive_headers=DEFAULT_SENSITIVE_HEADERS,
           sensitive_fields=DEFAULT_SENSITIVE_FIELDS)
        .add(value)                  register a secret value (str, number, bytes; containers: their leaves)
        .add_header(name)            treat a header (e.g. an apiKey scheme's header) as sensitive
        .add_field(name)             treat a JSON object key as sensitive
        .mask_text(text) -> str      every registered secret replaced by MASK
        .mask_url(url, query_values=False) -> str
                                     mask_text, and secrets percent-encoded in a path segment or query
                                     value, and the password of the URL's user info
        .add_url_credentials(url, user_is_token=False)
                                     register the credentials a URL's user info carries
        .mask_headers(pairs) -> tuple[tuple[str, str], ...]
        .mask_json(value) -> Any     a copy with secret values (and values of sensitive keys) masked
        .mask_bytes(data) -> bytes   mask_text for a binary payload (secrets found by their UTF-8 form)
        .mask_value(value) -> Any    mask_json for any value; mask_text for str
        .is_secret(value) -> bool

What is masked, and why (the Arazzo 1.0.1 data-type note treats ``format: password`` as "mask in logs";
Redocly ``respect`` masks secrets the same way):
- **Secret values, everywhere.** Credentials given with ``--auth`` (and their base64 ``user:password``
  form), ``format: password`` inputs, inputs named with ``--secret-input``, step/workflow outputs named
  secret by the caller, and computed TOTP codes. Every occurrence in any text (URLs, bodies, header values,
  error messages) is replaced by ``MASK``, and so is each form a secret takes once encoded for a URL, a form
  or a JSON string (percent-encoded, ``+`` for spaces, JSON escapes, ``\\/``); a URL is also read part by
  part (``mask_url``), so a path segment or query value that decodes to a secret is masked whole, however it
  was encoded, and the password of its user info always is. Values shorter than ``MIN_SUBSTRING_LENGTH``
  characters are masked only where they are a whole value (a JSON string or number, a header value),
  because replacing every occurrence of a one- or two-character string would destroy the report without
  protecting anything.
- **Well-known credential headers**: ``Authorization`` and ``Proxy-Authorization`` keep their scheme word
  (``Basic ********``) so a reader can still see which scheme was used; ``Cookie`` and ``Set-Cookie`` keep
  cookie names and attributes but mask cookie values; the other sensitive headers (``X-API-Key``…) are
  masked whole. What they carry is registered as a secret too (credentials and cookie values of
  ``MIN_NESTED_SECRET_LENGTH`` characters or more), so a token a response hands out in a header stays
  masked in the outputs and messages that quote it. The headers of AsyncAPI messages are masked the same way.
- **JSON bodies stay readable, secrets do not.** Object keys are never masked; field values are kept except
  (a) values that are registered secrets and (b) values of sensitive keys: credentials by definition
  (``password``, ``client_secret``) and secrets an API hands out (``secret``, ``session_token``,
  ``session_jwt``, ``recovery_codes``, ``qr_code``…; see ``ISSUED_SECRET_FIELDS``; extend with ``add_field``),
  in any case and in snake_case, camelCase or kebab-case (``sessionToken``); and, where ``secret`` is one of
  them, an ``otpauth://`` key URI wherever it stands (it carries the TOTP secret). A sensitive key's value is
  registered as a secret when it is masked, so the same value is masked in the step outputs and later requests
  that carry it: a scalar value, or each item of a list of scalars (recovery codes). When the value is a
  structure (an object, a list of objects), it is still masked whole where it stands, but only its leaves that
  can be credentials are registered: strings of at least ``MIN_NESTED_SECRET_LENGTH`` characters without white
  space. Its ordinary words (``list``, ``bearer``, ``index``) are not, so they are not masked in every other
  text (error messages, URLs). Outputs the caller declares secret are registered before the exchange is
  recorded, so the response that carried them is masked too.

Masking a text looks for each registered secret with a substring test and replaces the ones it holds,
longest first, so a secret inside a longer one is masked as part of it. Registering a secret costs nothing
more than keeping it: a run that registers a token at every step stays linear in its steps (one regular
expression of every secret would have to be compiled again after each, and compiling is slow).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any
from urllib.parse import quote, quote_plus, unquote, unquote_plus

import msgspec

MASK = "********"
MIN_SUBSTRING_LENGTH = 3
#: Inside a structure under a sensitive key, the shortest string registered as a secret (tokens, TOTP secrets
#: and recovery codes are longer; words such as ``list`` or ``bearer`` are not credentials).
MIN_NESTED_SECRET_LENGTH = 8

DEFAULT_SENSITIVE_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
        "x-api-key",
        "api-key",
        "apikey",
        "x-auth-token",
        "x-access-token",
        "x-amz-security-token",
        "x-csrf-token",
        "x-xsrf-token",
    }
)
#: JSON object keys whose values are credentials by definition: always masked.
CREDENTIAL_FIELDS = frozenset({"password", "client_secret"})
#: Keys whose values are secrets an API hands out (tokens, TOTP secrets and their QR codes, recovery codes):
#: masked by default, and the value is registered so it is masked wherever else it appears (outputs, later
#: requests). ``totpflow run --show-secrets`` keeps only ``CREDENTIAL_FIELDS``.
ISSUED_SECRET_FIELDS = frozenset(
    {
        "secret",
        "token",
        "access_token",
        "refresh_token",
        "id_token",
        "session_token",
        "session_jwt",
        "jwt",
        "api_key",
        "apikey",
        "private_key",
        "totp_code",
        "recovery_code",
        "recovery_codes",
        "qr_code",
    }
)
DEFAULT_SENSITIVE_FIELDS = CREDENTIAL_FIELDS | ISSUED_SECRET_FIELDS

_SCHEME_HEADERS = frozenset({"authorization", "proxy-authorization"})
_COOKIE_HEADERS = frozenset({"cookie", "set-cookie"})


class Masker:
    """A set of secret strings plus sensitive header and field names; see the module docstring."""

    __slots__ = (
        "_by_length",
        "_field_keys",
        "_fields",
        "_fields_pattern",
        "_headers",
        "_short",
        "_substrings",
    )

    def __init__(
        self,
        secrets: Iterable[Any] = (),
        *,
        sensitive_headers: Iterable[str] = DEFAULT_SENSITIVE_HEADERS,
        sensitive_fields: Iterable[str] = DEFAULT_SENSITIVE_FIELDS,
    ) -> None:
        self._substrings: set[str] = set()
        self._short: set[str] = set()
        self._headers = _lowered(sensitive_headers)
        self._fields = _lowered(sensitive_fields)
        self._field_keys = {_key(name) for name in self._fields}
        # The secrets longest first, sorted when first needed after the set changed.
        self._by_length: tuple[str, ...] | None = None
        self._fields_pattern: tuple[frozenset[str], re.Pattern[str] | None] | None = None
        for secret in secrets:
            self.add(secret)

    # -- registration ----------------------------------------------------------------------------------

    def add(self, value: Any) -> None:
        """Register a secret value. Booleans, None, empty strings and containers are ignored (a container's
        scalar leaves are registered instead)."""
        if value is None or isinstance(value, bool):
            return
        if isinstance(value, Mapping):
            for item in value.values():
                self.add(item)
            return
        if isinstance(value, list | tuple | set | frozenset):
            for item in value:
                self.add(item)
            return
        if isinstance(value, bytes | bytearray):
            value = bytes(value).decode("utf-8", "replace")
        text = value if isinstance(value, str) else str(value)
        if not text:
            return
        if len(text) < MIN_SUBSTRING_LENGTH:
            self._short.add(text)
        elif text not in self._substrings:
            self._substrings.add(text)
            self._substrings.update(_encoded_forms(text))
            self._by_length = None

    def _add_credential(self, text: str) -> None:
        """Register what a sensitive header carries when it can be a credential (long enough, one word)."""
        text = text.strip()
        if len(text) >= MIN_NESTED_SECRET_LENGTH and text.split() == [text]:
            self.add(text)

    def _add_issued(self, value: Any) -> None:
        """Register the value of a sensitive key: a scalar or a list of scalars whole; in a structure, only
        the leaves that can be credentials (see the module docstring)."""
        if isinstance(value, Mapping):
            structured = True
        elif isinstance(value, list | tuple):
            structured = any(isinstance(item, Mapping | list | tuple) for item in value)
        else:
            structured = False
        if not structured:
            self.add(value)
            return
        for leaf in _leaves(value):
            if isinstance(leaf, str) and len(leaf) >= MIN_NESTED_SECRET_LENGTH and leaf.split() == [leaf]:
                self.add(leaf)

    def add_header(self, name: str) -> None:
        self._headers.add(name.lower())

    def add_field(self, name: str) -> None:
        self._fields.add(name.lower())
        self._field_keys.add(_key(name))
        self._fields_pattern = None

    @property
    def secrets(self) -> frozenset[str]:
        return frozenset(self._substrings | self._short)

    def is_secret(self, value: Any) -> bool:
        if value is None or isinstance(value, bool):
            return False
        text = value if isinstance(value, str) else str(value)
        return text in self._substrings or text in self._short

    def is_sensitive_header(self, name: str) -> bool:
        return name.lower() in self._headers

    # -- masking ---------------------------------------------------------------------------------------

    def mask_text(self, text: str) -> str:
        """Replace every registered secret in ``text``; a text equal to a short secret is masked whole."""
        if text in self._short:
            return MASK
        for secret in self._ordered():
            if secret in text:
                text = text.replace(secret, MASK)
        return text

    def _ordered(self) -> tuple[str, ...]:
        """The registered secrets longest first ("abcd" before "abc"), equal lengths in a fixed order."""
        ordered = self._by_length
        if ordered is None:
            ordered = self._by_length = tuple(
                sorted(self._substrings, key=lambda secret: (-len(secret), secret))
            )
        return ordered

    def mask_headers(self, headers: Iterable[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
        # ``mask_header`` per pair, inlined for the common case (a recorded exchange masks every header).
        substrings, short, sensitive = self._substrings, self._short, self._headers
        masked: list[tuple[str, str]] = []
        for name, value in headers:
            if name.lower() in sensitive:
                masked.append((name, self.mask_header(name, value)))
            elif value in short:
                masked.append((name, MASK))
            else:
                masked.append((name, self.mask_text(value) if substrings else value))
        return tuple(masked)

    def mask_header(self, name: str, value: str) -> str:
        lower = name.lower()
        if lower in self._headers:
            if lower in _SCHEME_HEADERS:
                scheme, sep, credentials = value.strip().partition(" ")
                self._add_credential(credentials if sep else scheme)
                return f"{scheme} {MASK}" if sep else MASK
            if lower in _COOKIE_HEADERS:
                for cookie in _cookie_values(value, set_cookie=lower == "set-cookie"):
                    self._add_credential(cookie)
                return _mask_cookie(value, set_cookie=lower == "set-cookie")
            self._add_credential(value)
            return MASK
        return self.mask_text(value)

    def mask_url(self, url: str, *, query_values: bool = False) -> str:
        """``mask_text`` of a URL, and what it cannot see there: a path segment or query value that decodes
        to (or contains) a secret is masked whole, whatever its encoding; the password of the user info is
        masked, and registered with the ``Basic`` credentials a client makes of it. ``query_values``: every
        query value is masked (a document's URL, whose query, if any, is most likely an access token)."""
        if "@" in url:
            self.add_url_credentials(url)
        masked = self.mask_text(url)
        if "%" not in masked and "+" not in masked and "@" not in masked and not query_values:
            return masked
        parts = _URL.match(masked)
        if parts is None:
            return masked
        head, authority, path, query, fragment = parts.groups()
        if "@" in authority:
            userinfo, _, host = authority.rpartition("@")
            user, sep, _password = userinfo.partition(":")
            if sep:
                authority = f"{user}:{MASK}@{host}"
        path = "/".join(MASK if self._hides(unquote(part)) else part for part in path.split("/"))
        if query is not None:
            pairs = []
            for pair in query.split("&"):
                name, sep, value = pair.partition("=")
                hidden = sep and (query_values or self._hides(unquote_plus(value)))
                pairs.append(f"{name}={MASK}" if hidden else pair)
            path += "?" + "&".join(pairs)
        return head + authority + path + ("" if fragment is None else "#" + fragment)

    def add_url_credentials(self, url: str, *, user_is_token: bool = False) -> None:
        """Register what a URL's user info carries: its password, with the ``Basic`` credentials a client
        makes of it; with ``user_is_token``, a user given alone (``nats://TOKEN@host``)."""
        parts = _URL.match(url)
        userinfo, at, _host = (parts.group(2) if parts else "").rpartition("@")
        if not at:
            return
        user, sep, password = userinfo.partition(":")
        if sep and password:
            self.add(unquote(password))
            self.add(base64.b64encode(f"{unquote(user)}:{unquote(password)}".encode()).decode("ascii"))
        elif user and user_is_token:
            self.add(unquote(user))

    def _hides(self, text: str) -> bool:
        """Whether ``text`` is or holds a registered secret."""
        return text != MASK and (text in self._short or self.mask_text(text) != text)

    def mask_json(self, value: Any) -> Any:
        """A copy of a JSON-like value with secret values, and the values of sensitive keys, masked."""
        if isinstance(value, str):
            if value.startswith(_OTPAUTH) and "secret" in self._field_keys:  # a TOTP key URI, as `secret`
                self.add(value)
                return MASK
            return self.mask_text(value)
        if value is None or isinstance(value, bool):
            return value
        if isinstance(value, int | float):
            return MASK if self.is_secret(value) else value
        if isinstance(value, dict) or isinstance(value, Mapping):
            masked: dict[Any, Any] = {}
            for key, item in value.items():
                if item is not None and isinstance(key, str) and _key(key) in self._field_keys:
                    self._add_issued(item)  # masked here, so masked wherever else it shows up
                    masked[key] = MASK
                else:
                    masked[key] = self.mask_json(item)
            return masked
        if isinstance(value, list | tuple):
            return [self.mask_json(item) for item in value]
        if isinstance(value, bytes | bytearray):  # a binary message payload
            return self.mask_bytes(bytes(value))
        return value

    def mask_bytes(self, data: bytes, charsets: tuple[str, ...] = ()) -> bytes:
        """``mask_text`` for bytes that are not UTF-8 text (a binary payload): every registered secret's UTF-8
        form replaced by ``MASK``; bytes that are a short secret whole are masked whole. With ``charsets``
        (other than UTF-8: a form body's, a multipart part's), also each secret as each of
        them writes it, as it is and percent-encoded as a query or a form does."""
        if any(data == short.encode() for short in self._short):
            return MASK.encode()
        for secret in self._ordered():
            forms = [secret.encode()]
            for charset in charsets:
                forms.extend(_charset_forms(secret, charset))
            for encoded in forms:
                if encoded in data:
                    data = data.replace(encoded, MASK.encode())
        return data

    def mask_value(self, value: Any) -> Any:
        return self.mask_json(value)

    def may_need_json_masking(self, text: str | bytes) -> bool:
        """False when ``text`` (a JSON document) names no sensitive key, so ``mask_text`` alone masks it
        exactly as ``mask_json`` would: one scan instead of a parse, a walk and a re-encode. (Short secrets
        are masked only as whole values, which only the structured walk can see.)"""
        if self._short:
            return True
        if (b"otpauth://" in text) if isinstance(text, bytes) else ("otpauth://" in text):
            return True
        if self._fields_pattern is None:  # reset by add_field
            fields = frozenset(self._fields)
            self._fields_pattern = (fields, _fields_pattern(fields))
        pattern = self._fields_pattern[1]
        if pattern is None:
            return False
        if isinstance(text, bytes):  # UTF-8 JSON: the key names are ASCII, so the bytes can be searched as is
            return _bytes_pattern(pattern.pattern).search(text) is not None
        return pattern.search(text) is not None


_UNRESERVED = re.compile(r"[A-Za-z0-9._~-]*")  # RFC 3986 §2.3: never percent-encoded, never JSON-escaped
_URL = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://)([^/?#]*)([^?#]*)(?:\?([^#]*))?(?:#(.*))?", re.DOTALL)


# Characters a URL's query, or one path segment, holds as they are (RFC 3986 §3.3, §3.4): a value written
# into a query template (``in: querystring``) or a path keeps them unencoded.
_QUERY_KEEPS = "!$&'()*+,;=:@/?"
_SEGMENT_KEEPS = "!$&'()*+,;=:@"
_COOKIE_KEEPS = "!#$&'()*+-./:<=>?@[]^_`{|}~"  # RFC 6265 cookie-octet but "%", as params.cookie_value keeps


def _encoded_forms(text: str) -> set[str]:
    """The forms ``text`` takes once percent-encoded (wholly; as a query, a path segment or a cookie value
    keeps it; ``+`` for a space, as forms encode it), written in a JSON string (escaped, optionally as ASCII,
    optionally with ``\\/``) or in XML (``&amp; &lt; &gt;``, and ``&quot; &apos;`` or ``&#x27;`` in an
    attribute), other than ``text`` itself."""
    if _UNRESERVED.fullmatch(text):  # every encoding leaves it as it is (tokens, ids, most passwords)
        return set()
    in_json = msgspec.json.encode(text).decode()[1:-1]
    ascii_json = "".join(_ascii_escape(char) for char in in_json)
    forms = {quote(text, safe=""), quote_plus(text, safe=""), in_json, ascii_json}
    forms |= {quote(text, safe=keeps) for keeps in (_QUERY_KEEPS, _SEGMENT_KEEPS, _COOKIE_KEEPS)}
    forms |= {form.replace("/", "\\/") for form in (in_json, ascii_json)}
    in_xml = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    forms |= {
        in_xml,
        in_xml.replace('"', "&quot;"),
        in_xml.replace('"', "&quot;").replace("'", "&apos;"),
        in_xml.replace('"', "&quot;").replace("'", "&#x27;"),
    }
    forms.discard(text)
    return forms


def _ascii_escape(char: str) -> str:
    code = ord(char)
    if code < 0x80:
        return char
    if code < 0x10000:
        return f"\\u{code:04x}"
    code -= 0x10000
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


@lru_cache(maxsize=64)
def _fields_pattern(fields: frozenset[str]) -> re.Pattern[str] | None:
    """A JSON key naming a sensitive field in any case, snake_case, camelCase or kebab-case."""
    names = "|".join(re.escape(name).replace("_", "[-_]?") for name in sorted(fields))
    return re.compile(rf'"(?i:{names})"\s*:') if names else None


def _key(name: str) -> str:
    """A field name as sensitive fields are compared: ``access_token``, ``accessToken`` and ``access-token``
    are one name."""
    return name.lower().replace("_", "").replace("-", "")


_OTPAUTH = ("otpauth://", "OTPAUTH://")


@lru_cache(maxsize=64)
def _bytes_pattern(pattern: str) -> re.Pattern[bytes]:
    return re.compile(pattern.encode())


def _leaves(value: Any) -> Iterable[Any]:
    if isinstance(value, Mapping):
        for item in value.values():
            yield from _leaves(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _leaves(item)
    else:
        yield value


def _lowered(names: Iterable[str]) -> set[str]:
    if names is DEFAULT_SENSITIVE_HEADERS or names is CREDENTIAL_FIELDS or names is DEFAULT_SENSITIVE_FIELDS:
        return set(names)  # already lower case
    return {name.lower() for name in names}


def _cookie_values(value: str, *, set_cookie: bool) -> list[str]:
    """The values of a Cookie header's pairs, or of a Set-Cookie header's cookie (its first pair)."""
    pairs = value.split(";")[:1] if set_cookie else value.split(";")
    return [pair.partition("=")[2] for pair in pairs if "=" in pair]


def _mask_cookie(value: str, *, set_cookie: bool) -> str:
    """``a=1; b=2`` → ``a=********; b=********``; for Set-Cookie only the first pair is a value, the rest are
    attributes (RFC 6265 §4.1.1) and stay readable."""
    parts = [part.strip() for part in value.split(";")]
    masked: list[str] = []
    for index, part in enumerate(parts):
        name, sep, _secret = part.partition("=")
        if set_cookie and index > 0:
            masked.append(part)
        elif sep:
            masked.append(f"{name}={MASK}")
        else:
            masked.append(MASK if part else part)
    return "; ".join(masked)


def _charset_forms(secret: str, charset: str) -> tuple[bytes, ...]:
    """``secret`` as text in ``charset`` writes it, as it is and percent-encoded (wholly, and as a form writes
    it); none when the charset is unknown or cannot write the secret."""
    try:
        raw = secret.encode(charset)
        mark = "".encode(charset)  # a byte-order mark the codec writes first (UTF-16, UTF-32): not in a value
    except (LookupError, UnicodeEncodeError):
        return ()
    raw = raw[len(mark) :]
    return (raw, quote(raw, safe="").encode("ascii"), quote_plus(raw, safe="").encode("ascii"))
