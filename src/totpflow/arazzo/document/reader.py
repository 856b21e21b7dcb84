"""Read a YAML or JSON document from a file path or an http(s) URL into plain Python data.

The text is parsed by ``totpflow.arazzo.textdata`` (JSON, or YAML with the JSON schema tag set and string
keys only, as Arazzo 1.0.1 §4.3 "Format" asks; aliases and nesting bounded). Parsed local files are cached
per process, keyed by ``(path, mtime, size)``, so a source description used by several documents is parsed
once. A large YAML text (a 1 MB OpenAPI description takes ~0.2 s to parse even with libyaml) is also cached
across processes: its parsed data is kept as MessagePack under the user's cache directory
(``$TOTPFLOW_CACHE_DIR``, else ``$XDG_CACHE_HOME/totpflow``, else ``~/.cache/totpflow``; an empty
``TOTPFLOW_CACHE_DIR`` turns it off), keyed by a BLAKE2 hash of the text, so a changed file is never served
stale and the next ``totpflow run`` reads it in milliseconds.

Relative references are resolved against the referring document's absolute URL (RFC 3986 §5.2); local files
are identified by ``file://`` URLs so that one resolution rule serves both.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urljoin, urlsplit

from totpflow.arazzo.errors import LoadError
from totpflow.arazzo.textdata import load_json, load_yaml, read_at_most

if TYPE_CHECKING:
    import httpx

_TIMEOUT_SECONDS = 30.0
# The longest document read, from a file or a URL: a 48 KB OpenAPI description is typical, the largest public
# ones are a few MB; a device or a server that never stops sending fails here rather than fill the memory.
MAX_DOCUMENT_BYTES = 64 * 1024 * 1024


_file_cache: dict[tuple[str, int, int], Any] = {}


def absolute_url(ref: str, base: str | None = None) -> str:
    """The absolute URL of ``ref``: resolved against ``base`` when given, else a path of this machine."""
    if base is not None:
        return urljoin(base, ref)
    if urlsplit(ref).scheme in ("http", "https", "file"):
        return ref
    return Path(ref).expanduser().resolve().as_uri()


def file_path(url: str) -> Path | None:
    """The local path of a ``file://`` URL, or None for any other scheme."""
    parts = urlsplit(url)
    if parts.scheme != "file":
        return None
    if os.name == "nt":  # drive letters and backslashes
        from urllib.request import url2pathname

        return Path(url2pathname(parts.path))
    return Path(unquote(parts.path))  # what url2pathname does on POSIX, without importing urllib.request


_USERINFO = re.compile(r"(?<=//)[^/?#]*@")


def shown(url: str) -> str:
    """The URL as error messages show it: without user info, query and fragment, where credentials may ride
    along. Text only: a URL that does not parse (a port out of range) is shown so too."""
    return _USERINFO.sub("", url, count=1).split("?", 1)[0].split("#", 1)[0]


def without_fragment(url: str) -> str:
    return url.split("#", 1)[0]


def parse_text(text: str, name: str = "") -> Any:
    """Parse JSON (when the text looks like a JSON object or array) or YAML (``totpflow.arazzo.textdata``);
    LoadError on a syntax error. YAML is kept in the cross-process parse cache."""
    parsed, data = load_json(text, name)
    if parsed:
        return data
    cache = _ParseCache.for_text(text)
    if cache is not None:
        hit = cache.get()
        if hit is not _MISS:
            return hit
    data = load_yaml(text, name)
    if cache is not None:
        cache.put(data)
    return data


_MISS = object()
_CACHE_MIN_BYTES = 1024  # below this, hashing and a file read cost more than they save
_CACHE_FORMAT = b"totpflow-yaml-2"  # bump when the loader's output for a given text changes


class _ParseCache:
    """One entry of the cross-process cache of parsed YAML (see the module docstring)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def for_text(cls, text: str) -> _ParseCache | None:
        if len(text) < _CACHE_MIN_BYTES:
            return None
        directory = cache_dir()
        if directory is None:
            return None
        import hashlib

        digest = hashlib.blake2b(text.encode("utf-8"), digest_size=20, key=_CACHE_FORMAT).hexdigest()
        return cls(directory / "yaml" / f"{digest}.msgpack")

    def get(self) -> Any:
        import msgspec

        try:
            return msgspec.msgpack.decode(self.path.read_bytes())
        except (OSError, msgspec.DecodeError):
            return _MISS

    def put(self, data: Any) -> None:
        import msgspec

        try:
            encoded = msgspec.msgpack.encode(data)
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            partial = self.path.with_suffix(f".{os.getpid()}.tmp")
            partial.write_bytes(encoded)
            os.replace(
                partial, self.path
            )  # atomic: a concurrent reader sees the old file or the whole new one
        except (OSError, TypeError, OverflowError, msgspec.EncodeError):
            pass  # a cache that cannot be written is only a slower run


def cache_dir() -> Path | None:
    """The cross-process cache directory, or None when ``TOTPFLOW_CACHE_DIR`` is set empty."""
    configured = os.environ.get("TOTPFLOW_CACHE_DIR")
    if configured is not None:
        return Path(configured) if configured else None
    xdg = os.environ.get("XDG_CACHE_HOME")
    return Path(xdg) / "totpflow" if xdg else Path.home() / ".cache" / "totpflow"


def load_data(url: str, *, client: httpx.Client | None = None) -> Any:
    """Read and parse the document at an absolute URL (``file://`` or ``http(s)://``)."""
    url = without_fragment(url)
    path = file_path(url)
    if path is not None:
        return _load_file(path)
    scheme = urlsplit(url).scheme
    if scheme not in ("http", "https"):
        raise LoadError("", f"unsupported URL scheme {scheme!r} in {shown(url)}")
    return parse_text(_fetch(url, client), url)


def _load_file(path: Path) -> Any:
    try:
        stat = path.stat()
    except OSError as exc:
        raise LoadError("", f"cannot read {path}: {exc.strerror or exc}") from None
    key = (os.fspath(path), stat.st_mtime_ns, stat.st_size)
    if key in _file_cache:
        return _file_cache[key]
    try:
        content = read_at_most(path, MAX_DOCUMENT_BYTES)
        if content is None:
            raise LoadError("", f"cannot read {path}: it is larger than {MAX_DOCUMENT_BYTES} bytes")
        text = content.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise LoadError("", f"cannot read {path}: {exc}") from None
    data = parse_text(text, str(path))
    _file_cache[key] = data
    return data


def new_client() -> httpx.Client:
    """A short-lived client for reading documents: redirects followed, bounded by a timeout. ``LoadError``
    when the proxy the environment names cannot be used."""
    import httpx

    from totpflow.arazzo.senders.transport import new_client as client

    try:
        return client(timeout=_TIMEOUT_SECONDS, follow_redirects=True)
    except httpx.ProxyError as exc:
        raise LoadError("", str(exc)) from None


def _fetch(url: str, client: httpx.Client | None) -> str:
    import httpx

    from totpflow.arazzo.senders.transport import deadline

    own = client is None
    http = client if client is not None else new_client()
    chunks: list[bytes] = []
    try:
        with deadline(_TIMEOUT_SECONDS), http.stream("GET", url) as response:  # deadline: the whole fetch
            if response.status_code != 200:
                raise LoadError("", f"cannot fetch {shown(url)}: HTTP {response.status_code}")
            received = 0
            for chunk in response.iter_bytes():
                received += len(chunk)
                if received > MAX_DOCUMENT_BYTES:
                    raise LoadError(
                        "", f"cannot fetch {shown(url)}: it is larger than {MAX_DOCUMENT_BYTES} bytes"
                    )
                chunks.append(chunk)
    except httpx.HTTPError as exc:
        raise LoadError("", f"cannot fetch {shown(url)}: {type(exc).__name__}") from None
    finally:
        if own:
            http.close()
    return b"".join(chunks).decode(response.encoding or "utf-8", errors="replace")  # as httpx's .text
