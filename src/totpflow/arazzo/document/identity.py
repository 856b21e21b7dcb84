"""Arazzo 1.1 document identity (``$self``), base URIs, and where a ``$self`` URL is read from.

- A document's identity is its ``$self`` resolved against the URL it was read from (RFC 3986 §5.2, so a
  relative ``$self`` depends on where the file was read); without ``$self`` it has none and ``$self``
  expressions evaluate to ``null``.
- Its base URI is its identity when it has one, else the URL it was read from: relative source description
  URLs resolve against it. A document read from a local file whose ``$self`` is a public URL therefore
  refers to ``./pets.openapi.yaml`` at that public URL.
- Identity-based referencing: a source description URL that names the identity of an Arazzo document
  already loaded in the set (the root, or one read before) is that document; it is not fetched again.
- ``TOTPFLOW_MAP_SELF`` (and ``--map-self URL=DIR`` of ``totpflow run`` and ``validate``, which set it)
  maps URL prefixes onto local folders, so such documents run offline: a document or source whose URL
  starts with a mapped prefix is read from the folder, under the rest of its path. Entries are
  ``URL=DIR`` separated by white space; the longest matching prefix wins. The URL stays the document's
  URL (its identity and base), only the reading is redirected.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urljoin, urlsplit

MAP_ENV = "TOTPFLOW_MAP_SELF"
_HIERARCHICAL = ("http", "https", "file")


def resolve_identity(self_uri: str, retrieved_from: str) -> str:
    """``$self`` made absolute against the retrieval URL (an absolute ``$self`` is kept as written)."""
    if urlsplit(self_uri).scheme:
        return self_uri
    if urlsplit(retrieved_from).scheme in _HIERARCHICAL:
        return urljoin(retrieved_from, self_uri)
    return self_uri


def parse_mapping(text: str) -> list[tuple[str, str]]:
    """``URL=DIR`` entries (white-space separated) → [(URL prefix, folder as a file:// URL ending in /)];
    ValueError naming a malformed entry."""
    pairs = []
    for entry in text.split():
        url, sep, folder = entry.partition("=")
        if not sep or not url or not folder or urlsplit(url).scheme not in ("http", "https"):
            raise ValueError(f"{entry!r} is not URL=DIR with an http(s) URL")
        pairs.append((url, Path(folder).expanduser().resolve().as_uri().rstrip("/") + "/"))
    return pairs


def mapped(url: str) -> str:
    """Where to read ``url``: under a mapped folder when a ``TOTPFLOW_MAP_SELF`` prefix matches it, else
    ``url`` itself."""
    text = os.environ.get(MAP_ENV)
    if not text:
        return url
    try:
        pairs = parse_mapping(text)
    except ValueError:
        return url  # the CLI refuses a malformed mapping before anything is read
    best = max((pair for pair in pairs if url.startswith(pair[0])), key=lambda p: len(p[0]), default=None)
    if best is None:
        return url
    prefix, folder = best
    rest = url[len(prefix) :].lstrip("/")
    return folder + rest


def add_mapping(entries: list[str]) -> None:
    """``--map-self URL=DIR`` options: checked (ValueError naming a malformed one) and added to
    ``TOTPFLOW_MAP_SELF`` for this process."""
    if not entries:
        return
    for entry in entries:
        parse_mapping(entry)
        if len(entry.split()) != 1:
            raise ValueError(f"{entry!r} is not URL=DIR with an http(s) URL")
    os.environ[MAP_ENV] = " ".join([os.environ.get(MAP_ENV, ""), *entries]).strip()
