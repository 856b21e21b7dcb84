"""Credentials per source description, applied to requests from the OpenAPI security requirements.

Public API::

    Credential(kind, value, username=None)         kind: "basic" | "bearer" | "value"
    Credentials()                                  credentials for every source
        .add(source, scheme, credential)           scheme None = "whatever scheme the operation asks for"
        .for_source(source) -> SourceCredentials
    parse_auth_option(text) -> (source, scheme | None, Credential)        one ``--auth`` argument
    load_credentials(options, environ, masker=None, *, source_names=(), scheme_names=None) -> Credentials
        the ``--auth`` options plus the TOTPFLOW_AUTH_* environment variables of the named sources
        (scheme_names: source → its securitySchemes names); every value is registered with the Masker
        (and the base64 ``user:password`` form of a basic credential)
    apply_security(requirements, schemes, credentials, *, source=None, explicit=None, masker=None)
        -> RequestParts
        the headers / query parameters / cookies to add to one request
    broker_credentials(options, environ, brokers, masker=None) -> (other options, {source: credential})
        the ``--auth`` options and TOTPFLOW_AUTH_<SOURCE> variables of AsyncAPI sources: ``user:password``
        (MQTT, AMQP, NATS, WebSocket) or a token without ``:`` (NATS), the secret registered with the Masker

Command line (``--auth`` may be repeated; the value is split at the first ``=``)::

    --auth SOURCE=user:password          HTTP Basic (RFC 7617) for the source's basic scheme
    --auth SOURCE=basic:user:password    the same, explicit
    --auth SOURCE=bearer:TOKEN           HTTP Bearer (RFC 6750); also used for oauth2 / openIdConnect schemes
    --auth SOURCE=TOKEN                  a bare value (no ``:``): an apiKey scheme's value, or a bearer token
    --auth SOURCE.SCHEME=VALUE           for one named entry of components.securitySchemes; VALUE is read as
                                         that scheme needs it (apiKey: the key; http basic: user:password;
                                         http bearer / oauth2 / openIdConnect: the access token)

Environment (read for every source; names upper-cased, characters outside ``[A-Z0-9]`` become ``_``)::

    TOTPFLOW_AUTH_<SOURCE>=VALUE              like --auth SOURCE=VALUE
    TOTPFLOW_AUTH_<SOURCE>_<SCHEME>=VALUE     like --auth SOURCE.SCHEME=VALUE

Command-line values win over the environment. For an AsyncAPI source (a broker) the value is
``user:password`` or a ``TOKEN`` without ``:`` (NATS token authentication), in ``--auth SOURCE=VALUE`` and
``TOTPFLOW_AUTH_<SOURCE>`` alike; the user part of a broker URL given with ``--server`` wins over both.

How a request gets its credentials (OpenAPI 3.1.1 §4.8.10 Operation ``security`` and §4.8.30 Security
Requirement Object): the requirements are alternatives, tried in order; the first whose schemes all have a
credential is applied (an empty requirement ``{}`` means anonymous access is allowed and adds nothing). When
the operation declares no security at all, a basic or bearer credential given for the source is still sent
as an ``Authorization`` header, so a workflow runs against an API whose description omits its security. An
``Authorization`` header (or the same apiKey header/query/cookie) that the step sets explicitly as a
parameter wins: nothing is added over it. The runner does not run OAuth 2.0 / OpenID Connect flows: those
schemes take an access token given on the command line. ``mutualTLS`` is not supported (it needs a client
certificate on the HTTP client, not a header).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

import msgspec

from totpflow.arazzo.errors import UsageError
from totpflow.arazzo.masking import Masker
from totpflow.arazzo.params import RequestParts, cookie_value

ENV_PREFIX = "TOTPFLOW_AUTH_"
CredentialKind = Literal["basic", "bearer", "value"]


class Credential(msgspec.Struct, frozen=True):
    kind: CredentialKind
    value: str  # the password (basic), the token (bearer) or the bare value
    username: str | None = None

    def __repr__(self) -> str:  # never show the secret, even in a traceback
        return f"Credential(kind={self.kind!r}, username={self.username!r}, value='********')"

    def basic_token(self) -> str:
        raw = f"{self.username or ''}:{self.value}".encode()
        return base64.b64encode(raw).decode("ascii")


class SourceCredentials(msgspec.Struct):
    default: Credential | None = None
    by_scheme: dict[str, Credential] = msgspec.field(default_factory=dict)


class Credentials:
    def __init__(self) -> None:
        self._sources: dict[str, SourceCredentials] = {}

    def add(self, source: str, scheme: str | None, credential: Credential) -> None:
        entry = self._sources.setdefault(source, SourceCredentials())
        if scheme is None:
            entry.default = credential
        else:
            entry.by_scheme[scheme] = credential

    def for_source(self, source: str) -> SourceCredentials:
        return self._sources.get(source, SourceCredentials())

    def sources(self) -> list[str]:
        return list(self._sources)

    def schemes(self) -> list[tuple[str, str]]:
        """(source, scheme) of every credential given for one named security scheme."""
        return [(source, scheme) for source, entry in self._sources.items() for scheme in entry.by_scheme]

    def merged(self) -> SourceCredentials:
        """Every source's credentials in one (for a caller that does not say which source a request is
        for; with one source this is exactly that source's credentials)."""
        merged = SourceCredentials()
        for entry in self._sources.values():
            merged.default = merged.default or entry.default
            merged.by_scheme.update(entry.by_scheme)
        return merged


def _parse_value(value: str) -> Credential:
    prefix, sep, rest = value.partition(":")
    if sep and prefix.lower() == "bearer":
        return Credential("bearer", rest)
    if sep and prefix.lower() == "basic":
        username, _, password = rest.partition(":")
        return Credential("basic", password, username)
    if sep:
        return Credential("basic", rest, prefix)
    return Credential("value", value)


def parse_auth_option(text: str) -> tuple[str, str | None, Credential]:
    target, sep, value = text.partition("=")
    if not sep or not target:
        raise UsageError("--auth expects SOURCE=VALUE or SOURCE.SCHEME=VALUE")
    source, dot, scheme = target.partition(".")
    if dot and not scheme:
        raise UsageError("--auth SOURCE.SCHEME=VALUE: the scheme name is empty")
    if dot:
        # An explicit scheme: keep the value whole; it is interpreted once the scheme's type is known.
        return source, scheme, Credential("value", value)
    return source, None, _parse_value(value)


def env_name(*parts: str) -> str:
    return ENV_PREFIX + "_".join(re.sub(r"[^A-Z0-9]", "_", part.upper()) for part in parts)


def load_credentials(
    options: Sequence[str],
    environ: Mapping[str, str],
    masker: Masker | None = None,
    *,
    source_names: Iterable[str] = (),
    scheme_names: Mapping[str, Iterable[str]] | None = None,
) -> Credentials:
    """Environment first, then ``--auth`` options over it. ``scheme_names`` (source → securitySchemes names)
    lets ``TOTPFLOW_AUTH_<SOURCE>_<SCHEME>`` be found."""
    credentials = Credentials()
    for source in source_names:
        whole = environ.get(env_name(source))
        if whole:
            credentials.add(source, None, _parse_value(whole))
        for scheme_name in (scheme_names or {}).get(source, ()):
            one = environ.get(env_name(source, scheme_name))
            if one:
                credentials.add(source, scheme_name, Credential("value", one))
    for option in options:
        source, scheme, credential = parse_auth_option(option)
        credentials.add(source, scheme, credential)
    if masker is not None:
        for source in credentials.sources():
            entry = credentials.for_source(source)
            for given in [entry.default, *entry.by_scheme.values()]:
                register(masker, given)
    return credentials


def register(masker: Masker, credential: Credential | None) -> None:
    if credential is None:
        return
    masker.add(credential.value)
    if credential.kind == "basic":
        masker.add(credential.basic_token())
    elif ":" in credential.value:  # an explicit-scheme value may turn out to be user:password
        masker.add(credential.value.partition(":")[2])
        masker.add(base64.b64encode(credential.value.encode()).decode("ascii"))


# -- applying ------------------------------------------------------------------------------------------


def _scheme_kind(scheme: Mapping[str, Any]) -> tuple[str, str]:
    """(type, HTTP scheme) of a security scheme; Swagger 2.0's ``type: basic`` is HTTP Basic."""
    kind = str(scheme.get("type", ""))
    if kind == "basic":
        return "http", "basic"
    return kind, str(scheme.get("scheme", "")).lower()


def fits(default: Credential, scheme: Mapping[str, Any]) -> bool:
    """Whether a source's credential (``SOURCE=…``) serves ``scheme``: user:password an HTTP Basic scheme, a
    token or plain value a bearer-style one (HTTP, OAuth 2, OpenID Connect), a plain value an apiKey."""
    kind, http_scheme = _scheme_kind(scheme)
    if kind == "http" and http_scheme == "basic":
        return default.kind == "basic"
    if kind in ("http", "oauth2", "openIdConnect"):
        return default.kind in ("bearer", "value")
    if kind == "apiKey":
        return default.kind == "value"
    return False


def check_source_credential(source: str, default: Credential, schemes: Mapping[str, Any]) -> None:
    """UsageError for a source's plain value (``SOURCE=VALUE``) that none of the source's security schemes
    takes: it could never be sent (user:password and bearer:TOKEN also go, as ``Authorization``, to
    operations that require no scheme)."""
    if default.kind != "value":
        return
    if any(isinstance(scheme, Mapping) and fits(default, scheme) for scheme in schemes.values()):
        return
    declared = ", ".join(
        f"{name} ({' '.join(part for part in _scheme_kind(scheme) if part)})"
        for name, scheme in schemes.items()
        if isinstance(scheme, Mapping)
    )
    raise UsageError(
        f"credentials for {source!r}: a plain value fits none of its security schemes "
        f"({declared or 'none'}); HTTP Basic takes user:password, a bearer scheme bearer:TOKEN or a value, "
        "an apiKey a value"
    )


def _credential_for(
    name: str, scheme: Mapping[str, Any], credentials: SourceCredentials
) -> Credential | None:
    """The credential for one scheme: one given for it by name, else the source default if its kind fits."""
    explicit = credentials.by_scheme.get(name)
    kind, http_scheme = _scheme_kind(scheme)
    if explicit is not None:
        if kind == "http" and http_scheme == "basic":
            return _parse_value(explicit.value if ":" in explicit.value else f"basic:{explicit.value}:")
        if kind in ("http", "oauth2", "openIdConnect"):
            token = explicit.value
            return Credential("bearer", token[7:] if token.lower().startswith("bearer:") else token)
        return explicit
    default = credentials.default
    if default is None or not fits(default, scheme):
        return None
    if kind in ("oauth2", "openIdConnect") or (kind == "http" and http_scheme != "basic"):
        return Credential("bearer", default.value)
    return default


def _place(
    name: str, scheme: Mapping[str, Any], credential: Credential, parts: RequestParts, explicit: RequestParts
) -> None:
    if any(ch in credential.value + (credential.username or "") for ch in "\r\n\0"):
        raise UsageError(
            f"the credential for security scheme {name or 'Authorization'!r} contains a line break"
        )
    kind = str(scheme.get("type", ""))
    if kind == "apiKey":
        where = str(scheme.get("in", "header"))
        key = str(scheme.get("name", ""))
        if not key:
            raise UsageError(f"security scheme {name!r}: an apiKey scheme needs a name")
        if where == "header" and not explicit.has_header(key):
            parts.headers.append((key, credential.value))
        elif where == "query" and not explicit.has_query(key):
            from urllib.parse import quote

            parts.query.append((quote(key, safe=""), quote(credential.value, safe="")))
        elif where == "cookie" and not explicit.has_cookie(key):
            parts.cookies.append((key, cookie_value(credential.value)))  # as a cookie parameter's value
        return
    if explicit.has_header("Authorization") or parts.has_header("Authorization"):
        return
    if credential.kind == "basic":
        parts.headers.append(("Authorization", f"Basic {credential.basic_token()}"))
    else:
        parts.headers.append(("Authorization", f"Bearer {credential.value}"))


def apply_security(
    requirements: Sequence[Mapping[str, Sequence[str]]],
    schemes: Mapping[str, Any],
    credentials: Credentials | SourceCredentials | None,
    *,
    source: str | None = None,
    explicit: RequestParts | None = None,
    masker: Masker | None = None,
) -> RequestParts:
    """The parts to add to one request. Pass ``source`` (the operation's source description name) when
    ``credentials`` is a whole ``Credentials``; without it every source's credentials are considered."""
    explicit = explicit or RequestParts()
    parts = RequestParts()
    if credentials is None:
        return parts
    if isinstance(credentials, Credentials):
        credentials = credentials.for_source(source) if source is not None else credentials.merged()
    if not requirements:
        default = credentials.default
        if default is not None and default.kind in ("basic", "bearer"):
            _place("", {"type": "http"}, default, parts, explicit)
        return parts
    for requirement in requirements:
        chosen: list[tuple[str, Mapping[str, Any], Credential]] = []
        for name in requirement:
            scheme = schemes.get(name)
            credential = _credential_for(name, scheme, credentials) if isinstance(scheme, Mapping) else None
            if credential is None or not isinstance(scheme, Mapping):
                break
            chosen.append((name, scheme, credential))
        else:
            for name, scheme, credential in chosen:
                if masker is not None:
                    register(masker, credential)
                    if scheme.get("type") == "apiKey" and scheme.get("in") == "header":
                        masker.add_header(str(scheme.get("name", "")))
                _place(name, scheme, credential, parts, explicit)
            return parts
    return parts


def x_security_credential(scheme: Mapping[str, Any], values: Mapping[str, Any]) -> Credential:
    """The credential of one entry of Redocly's ``x-security`` step extension, whose ``values`` name what
    the scheme needs: ``username``/``password`` (http basic), ``token`` (http bearer), ``apiKey`` (apiKey),
    ``accessToken`` (oauth2, openIdConnect). UsageError when a value is missing."""
    kind = str(scheme.get("type", "")).lower()
    http_scheme = str(scheme.get("scheme", "")).lower()

    def need(key: str) -> str:
        value = values.get(key)
        if value is None or isinstance(value, dict | list):
            raise UsageError(f"x-security: the {kind or 'security'} scheme needs a {key!r} value")
        return str(value)

    if kind == "http" and http_scheme == "basic":
        return Credential("basic", need("password"), need("username"))
    if kind == "http" and http_scheme == "bearer":
        return Credential("bearer", need("token"))
    if kind == "apikey":
        return Credential("value", need("apiKey"))
    if kind in ("oauth2", "openidconnect"):
        return Credential("bearer", need("accessToken"))
    raise UsageError(f"x-security: unsupported security scheme type {kind!r} {http_scheme!r}".rstrip())


def apply_x_security(
    entries: Sequence[tuple[str, Mapping[str, Any], Credential]],
    *,
    explicit: RequestParts | None = None,
    masker: Masker | None = None,
) -> RequestParts:
    """The parts for a step's ``x-security`` entries (scheme name, scheme object, credential). They take
    precedence over ``--auth`` credentials; an explicit parameter still wins over both."""
    explicit = explicit or RequestParts()
    parts = RequestParts()
    for name, scheme, credential in entries:
        if masker is not None:
            register(masker, credential)
            if scheme.get("type") == "apiKey" and scheme.get("in") == "header":
                masker.add_header(str(scheme.get("name", "")))
        _place(name, scheme, credential, parts, explicit)
    return parts


def broker_credentials(
    options: Sequence[str],
    environ: Mapping[str, str],
    brokers: Iterable[str],
    masker: Masker | None = None,
) -> tuple[list[str], dict[str, tuple[str, str] | str]]:
    """The credentials of the AsyncAPI sources named in ``brokers``: ``TOTPFLOW_AUTH_<SOURCE>`` first, then
    ``--auth SOURCE=VALUE`` over it; VALUE is ``user:password`` → ``(user, password)``, or a token without
    ``:`` → the token. Returns the ``--auth`` options left for the OpenAPI sources, and the credentials.
    UsageError for an empty value or user (naming the option or variable, never the secret)."""
    names = set(brokers)
    found: dict[str, tuple[str, str] | str] = {}
    for source in names:
        variable = env_name(source)
        value = environ.get(variable)
        if value:
            found[source] = _broker_value(value, variable)
    others: list[str] = []
    for option in options:
        source, equals, value = option.partition("=")
        if not equals or source not in names:
            others.append(option)
            continue
        found[source] = _broker_value(value, f"--auth {source}=…")
    if masker is not None:
        for given in found.values():
            masker.add(given if isinstance(given, str) else given[1])
    return others, found


def _broker_value(value: str, where: str) -> tuple[str, str] | str:
    user, colon, password = value.partition(":")
    if not value or (colon and not user):
        raise UsageError(f"{where}: a broker credential is user:password or a token (NATS)")
    return (user, password) if colon else value
