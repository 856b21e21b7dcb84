"""Read a YAML or JSON document from a file path or an http(s) URL into plain Python data.

Arazzo 1.0.1 §4.3 ("Format") allows JSON or YAML, where YAML must use the JSON schema tag set and string keys
only. The YAML loader here therefore rejects non-string and duplicate keys, resolves only ``true``/``false``
as booleans (not YAML 1.1's ``yes``/``on``) and never turns a scalar into a date. Parsing uses libyaml
(``CSafeLoader``) when it is available — several times faster than the pure-Python loader on a 1 MB OpenAPI
file — and JSON goes through :mod:`json`, which is faster still. Parsed local files are cached per process,
keyed by ``(path, mtime, size)``, so a source description used by several documents is parsed once. A large
YAML text (a 1 MB OpenAPI description takes ~0.2 s to parse even with libyaml) is also cached across
processes: its parsed data is kept as MessagePack under the user's cache directory
(``$TOTPFLOW_CACHE_DIR``, else ``$XDG_CACHE_HOME/totpflow``, else ``~/.cache/totpflow``; an empty
``TOTPFLOW_CACHE_DIR`` turns it off), keyed by a BLAKE2 hash of the text, so a changed file is never served
stale and the next ``totpflow run`` reads it in milliseconds.

Relative references are resolved against the referring document's absolute URL (RFC 3986 §5.2); local files
are identified by ``file://`` URLs so that one resolution rule serves both.
"""

from __future__ import annotations

import functools
import json
import os
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urljoin, urlsplit

from totpflow.arazzo.errors import LoadError

if TYPE_CHECKING:
    import httpx

_TIMEOUT_SECONDS = 30.0
_YAML_BOOL = "tag:yaml.org,2002:bool"
_YAML_TIMESTAMP = "tag:yaml.org,2002:timestamp"


def _where(node: Any) -> str:
    return f"line {node.start_mark.line + 1}, column {node.start_mark.column + 1}"


@functools.cache
def _strict_loader() -> Any:
    """The YAML loader class, built on first use so that a run served from the parse cache never imports
    PyYAML."""
    import yaml

    try:
        _BaseLoader: type[yaml.SafeLoader] = yaml.CSafeLoader  # type: ignore[assignment]
    except AttributeError:  # PyYAML built without libyaml
        _BaseLoader = yaml.SafeLoader

    class _StrictLoader(_BaseLoader):  # type: ignore[misc, valid-type]
        """YAML close to YAML 1.2's JSON schema: string keys, no duplicates, no dates, true/false only."""

        aliased = False  # set once a node is used a second time (an alias)

        def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
            if node in self.constructed_objects:
                self.aliased = True
            return super().construct_object(node, deep=deep)

        def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[str, Any]:
            self.flatten_mapping(node)
            mapping: dict[str, Any] = {}
            for key_node, value_node in node.value:
                if not isinstance(key_node, yaml.ScalarNode):
                    raise LoadError("", f"{_where(key_node)}: a mapping key is a {key_node.id}, not a string")
                key = self.construct_object(key_node, deep=deep)
                if not isinstance(key, str):
                    raise LoadError("", f"{_where(key_node)}: mapping key {key_node.value!r} is not a string")
                if key in mapping:
                    raise LoadError("", f"{_where(key_node)}: duplicate key {key!r}")
                mapping[key] = self.construct_object(value_node, deep=deep)
            return mapping

        def construct_yaml_int(self, node: yaml.ScalarNode) -> int:
            try:
                return super().construct_yaml_int(node)  # type: ignore[no-any-return]
            except ValueError:  # more digits than int() converts (sys.get_int_max_str_digits)
                limit = sys.get_int_max_str_digits()
                raise LoadError("", f"{_where(node)}: an integer longer than {limit} digits") from None

    _StrictLoader.add_constructor("tag:yaml.org,2002:int", _StrictLoader.construct_yaml_int)

    _StrictLoader.yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag not in (_YAML_BOOL, _YAML_TIMESTAMP)]
        for first, resolvers in _BaseLoader.yaml_implicit_resolvers.items()
    }
    _StrictLoader.add_implicit_resolver(
        _YAML_BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
    )
    return _StrictLoader


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


def shown(url: str) -> str:
    """The URL as error messages show it: without user info and query, where credentials may ride along."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return parts._replace(netloc=netloc, query="", fragment="").geturl() if parts.netloc else url


def without_fragment(url: str) -> str:
    return url.split("#", 1)[0]


def parse_text(text: str, name: str = "", *, cached: bool = True) -> Any:
    """Parse JSON (when the text looks like a JSON object or array) or YAML; LoadError on a syntax error.
    ``cached`` False keeps the text out of the cross-process parse cache (text that may hold secrets)."""
    stripped = text.lstrip()
    if stripped.startswith(("{", "[")):
        try:
            return json.loads(text, object_pairs_hook=_unique_pairs)
        except json.JSONDecodeError:
            pass  # YAML flow style is a superset of JSON: let the YAML parser report the problem
        except RecursionError:
            raise LoadError("", f"{name + ': ' if name else ''}JSON nested too deeply") from None
        except ValueError:  # an integer of more digits than int() converts
            raise LoadError(
                "", f"{name + ': ' if name else ''}JSON with an integer too long to read"
            ) from None
    cache = _ParseCache.for_text(text) if cached else None
    if cache is not None:
        hit = cache.get()
        if hit is not _MISS:
            return hit
    import yaml

    loader = _strict_loader()(text)
    try:
        data = loader.get_single_data()
        if loader.aliased:
            _check_aliases(data)
    except LoadError as exc:  # the loader's own checks
        raise LoadError(exc.location, f"{name}: {exc.message}" if name else exc.message) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        raise LoadError("", f"{name + ': ' if name else ''}{where}invalid YAML: {exc.problem}") from None
    except yaml.YAMLError as exc:
        raise LoadError("", f"{name + ': ' if name else ''}invalid YAML: {exc}") from None
    finally:
        loader.dispose()
    if cache is not None:
        cache.put(data)
    return data


# Nodes a YAML document may hold once its aliases are expanded: aliases let a few lines stand for billions
# of nodes ("billion laughs"), which everything that walks the document would then visit.
MAX_EXPANDED_NODES = 1_000_000


def _check_aliases(data: Any) -> None:
    """LoadError if ``data`` (parsed YAML whose aliases share nodes) contains itself (a recursive alias) or
    expands to more than ``MAX_EXPANDED_NODES`` nodes. Linear in the distinct nodes: each is sized once."""
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()  # expanded, not yet sized: the path from the root, as the walk is LIFO
    stack: list[tuple[Any, bool]] = [(data, False)]
    while stack:
        value, children_sized = stack.pop()
        children = value.values() if isinstance(value, dict) else value
        if children_sized:
            size = 1 + sum(sizes.get(id(child), 1) for child in children)
            if size > MAX_EXPANDED_NODES:
                raise LoadError("", f"its aliases expand to more than {MAX_EXPANDED_NODES:,} nodes")
            sizes[id(value)] = size
            open_nodes.discard(id(value))
            continue
        if id(value) in sizes:
            continue
        if id(value) in open_nodes:
            raise LoadError("", "a YAML alias refers to a node that contains it")
        open_nodes.add(id(value))
        stack.append((value, True))
        stack.extend((child, False) for child in children if isinstance(child, dict | list))


_MISS = object()
_CACHE_MIN_BYTES = 1024  # below this, hashing and a file read cost more than they save
_CACHE_FORMAT = b"totpflow-yaml-1"  # bump when the loader's output for a given text changes


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


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    mapping = dict(pairs)
    if len(mapping) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise LoadError("", f"duplicate key {key!r}")
            seen.add(key)
    return mapping


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
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise LoadError("", f"cannot read {path}: {exc}") from None
    data = parse_text(text, str(path))
    _file_cache[key] = data
    return data


def new_client() -> httpx.Client:
    """A short-lived client for reading documents: redirects followed, bounded by a timeout."""
    from totpflow.arazzo.senders.transport import new_client as client

    return client(timeout=_TIMEOUT_SECONDS, follow_redirects=True)


def _fetch(url: str, client: httpx.Client | None) -> str:
    import httpx

    from totpflow.arazzo.senders.transport import deadline

    own = client is None
    http = client if client is not None else new_client()
    try:
        with deadline(_TIMEOUT_SECONDS):  # the whole fetch, with the runner's own client
            response = http.get(url)
    except httpx.HTTPError as exc:
        raise LoadError("", f"cannot fetch {shown(url)}: {type(exc).__name__}") from None
    finally:
        if own:
            http.close()
    if response.status_code != 200:
        raise LoadError("", f"cannot fetch {shown(url)}: HTTP {response.status_code}")
    return response.text
