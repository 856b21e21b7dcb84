"""What a run may set per source description — a base URL and credentials — checked before anything is sent.

A server URL or a credential for a name that is not one of the document's OpenAPI sources would otherwise be
ignored without a word: the run would go to the document's own server, or without credentials. So every name
must be an OpenAPI source the run can send to (of the root document or of an Arazzo document it uses; the
message lists them), every server URL must be an absolute ``http``/``https`` URL with a host (the schemes the
senders speak) and no user info (credentials are given with ``--auth``, and masked as such), and a credential
for a named security scheme must name one the source declares. Any other value is a ``UsageError``: the
command line exits 2 and no request is made.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from urllib.parse import SplitResult, urlsplit

from totpflow.arazzo.document.reader import shown
from totpflow.arazzo.errors import UsageError

SCHEMES = ("http", "https")


def _shown(url: str) -> str:
    """``url`` quoted for a message, as ``reader.shown`` gives it (no user info, no query)."""
    return repr(shown(url))


def check_overrides(
    known: Iterable[str],
    servers: Mapping[str, str],
    credential_sources: Iterable[str] = (),
    credential_schemes: Iterable[tuple[str, str]] = (),
    scheme_names: Mapping[str, Iterable[str]] | None = None,
    brokers: Iterable[str] = (),
) -> None:
    """UsageError for the first server or credential that names no known source, a malformed or unsupported
    server URL, or a ``(source, scheme)`` credential naming a scheme the source does not declare.
    ``brokers`` are the AsyncAPI sources: their server URL names a broker (``mqtt://host:port``, …)."""
    async_names = set(brokers)
    names = sorted(set(known) | async_names)
    listing = ", ".join(names) if names else "none"
    for name in (*servers, *credential_sources):
        if name not in names:
            what = "server" if name in servers else "credentials"
            raise UsageError(
                f"{what} for {name!r}: the document has no OpenAPI or AsyncAPI source of that name "
                f"(sources: {listing})"
            )
    for name, url in servers.items():
        problem = broker_url_problem(url) if name in async_names else url_problem(url)
        if problem is not None:
            raise UsageError(f"server for {name!r}: {problem}")
    for source, scheme in credential_schemes:
        declared = sorted((scheme_names or {}).get(source, ()))
        if scheme not in declared:
            schemes = ", ".join(declared) if declared else "none"
            raise UsageError(
                f"credentials for {source}.{scheme}: source {source!r} declares no security scheme "
                f"{scheme!r} (schemes: {schemes})"
            )


def _split(url: str) -> SplitResult | str:
    """``url``'s parts, or why it is not a valid URL (a port that is not a number in range included)."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  # raises ValueError for a port that is not a number in range
    except ValueError as exc:
        return f"{_shown(url)} is not a valid URL ({exc})"
    return parts


def url_problem(url: str) -> str | None:
    """Why ``url`` cannot be a server's base URL, or None."""
    parts = _split(url)
    if isinstance(parts, str):
        return parts
    scheme = parts.scheme.lower()
    if not scheme:
        return f"{_shown(url)} is not an absolute URL (expected http://host[:port][/path])"
    if scheme not in SCHEMES:
        return f"{_shown(url)}: the runner speaks {' and '.join(SCHEMES)}, not {scheme!r}"
    if not parts.hostname:
        return f"{_shown(url)} has no host (expected {scheme}://host[:port][/path])"
    if "@" in parts.netloc:
        return f"{_shown(url)}: a server URL carries no user or password (give credentials with --auth)"
    if parts.query or parts.fragment:
        return f"{_shown(url)}: a base URL has no query or fragment"
    return None


def broker_url_problem(url: str) -> str | None:
    """Why ``url`` cannot be an AsyncAPI source's broker URL (``protocol://[user:pass@]host[:port]``), or
    None."""
    from totpflow.arazzo.asyncapi.adapter import supported_protocols

    parts = _split(url)
    if isinstance(parts, str):
        return parts
    scheme = parts.scheme.lower()
    if scheme not in supported_protocols():
        offered = ", ".join(supported_protocols())
        expected = f"expected a broker URL, protocol://host[:port], with a protocol among {offered}"
        return f"{_shown(url)}: {expected}"
    if not parts.hostname:
        return f"{_shown(url)} has no host (expected {scheme}://host[:port])"
    return None
