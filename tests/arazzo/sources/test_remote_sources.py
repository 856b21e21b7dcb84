"""Documents and source descriptions fetched over HTTP from a real server on 127.0.0.1."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import loopback
import pytest

from totpflow.arazzo.document import load_document, reader
from totpflow.arazzo.errors import LoadError
from totpflow.arazzo.sources import SourceSet, check_sources

DATA = Path(__file__).resolve().parents[1] / "data" / "documents"


@dataclass
class Served:
    base: str
    hits: Counter[str] = field(default_factory=Counter)
    headers: list[dict[str, str]] = field(default_factory=list)


class _Handler(SimpleHTTPRequestHandler):
    disable_nagle_algorithm = True  # http.server writes headers and body apart: avoid Nagle + delayed ACK
    served: Served

    def do_GET(self) -> None:
        self.served.hits[self.path] += 1
        self.served.headers.append(dict(self.headers.items()))
        super().do_GET()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def served() -> Iterator[Served]:
    handler = type("Handler", (_Handler,), {})
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(handler, directory=str(DATA)))
    handler.served = Served(base=f"http://127.0.0.1:{server.server_address[1]}")
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield handler.served
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_a_remote_document_and_its_relative_source(served: Served) -> None:
    document = load_document(f"{served.base}/valid/pets.arazzo.yaml")
    assert document.url == f"{served.base}/valid/pets.arazzo.yaml"
    sources = SourceSet.load(document)
    assert sources.source("pets").url == f"{served.base}/openapi/pets.openapi.yaml"
    get_pet = sources.resolve_operation(document.workflows[0].steps[2])
    assert get_pet.servers == (f"{served.base}/v2",)  # a relative server URL, against the OpenAPI's URL
    assert check_sources(document, sources).problems == []
    assert served.hits == Counter({"/valid/pets.arazzo.yaml": 1, "/openapi/pets.openapi.yaml": 1})


def test_each_url_is_fetched_once_across_arazzo_sources(served: Served) -> None:
    parent = load_document(f"{served.base}/valid/parent.arazzo.yaml")
    sources = SourceSet.load(parent)
    assert len(sources.documents()) == 2
    assert served.hits == Counter(
        {"/valid/parent.arazzo.yaml": 1, "/valid/child.arazzo.yaml": 1, "/openapi/pets.openapi.yaml": 1}
    )


def test_the_given_client_is_used(served: Served) -> None:
    with httpx.Client(headers={"X-Probe": "given"}) as client:
        document = load_document(f"{served.base}/valid/shop.arazzo.yaml", client=client)
        SourceSet.load(document, client=client)
    assert len(served.headers) == 3
    assert all(headers.get("X-Probe") == "given" for headers in served.headers)


def test_a_missing_remote_source_is_a_load_error(served: Served) -> None:
    document = load_document(f"{served.base}/invalid/missing-source.arazzo.yaml")
    with pytest.raises(LoadError) as raised:
        SourceSet.load(document)
    assert raised.value.location == "/sourceDescriptions/0/url"
    assert "HTTP 404" in raised.value.message
    with pytest.raises(LoadError):
        load_document(f"{served.base}/valid/nothing-here.arazzo.yaml")


@pytest.mark.parametrize(
    "media_type",
    [
        "application/vnd.oai.workflows+json",  # the type 1.1.0 registers with IANA
        "application/vnd.oai.arazzo+json",  # the type its Appendix B uses
        "application/vnd.oai.workflows+yaml",
        "text/plain",
    ],
)
def test_documents_are_read_by_their_content_whatever_media_type_they_are_served_as(media_type: str) -> None:
    """Reference §7 item 10: the media type a server sends is not consulted; a document and its Arazzo source
    are parsed as JSON or YAML by their text."""
    handler = type("Handler", (_Handler,), {"guess_type": lambda self, path: media_type})
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(handler, directory=str(DATA)))
    handler.served = Served(base=f"http://127.0.0.1:{server.server_address[1]}")
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        parent = load_document(f"{handler.served.base}/valid/parent.arazzo.yaml")
        assert len(SourceSet.load(parent).documents()) == 2
        assert handler.served.hits["/valid/child.arazzo.yaml"] == 1
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


class _Trickle(_Handler):
    """A document's response one byte every 50 ms, each in time for a per-read timeout."""

    def do_GET(self) -> None:
        loopback.trickle(self, b"HTTP/1.0 200 OK\r\nContent-Type: application/yaml\r\n\r\narazzo: 1.0.1\n")


def test_a_trickled_document_fails_its_fetch_at_the_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reader, "_TIMEOUT_SECONDS", 0.5)
    handler = type("Handler", (_Trickle,), {})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    handler.served = Served(base=f"http://127.0.0.1:{server.server_address[1]}")
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    begun = time.monotonic()
    try:
        with pytest.raises(LoadError) as raised:
            load_document(f"{handler.served.base}/slow.arazzo.yaml")
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
    assert "Timeout" in raised.value.message
    assert time.monotonic() - begun < 2.0  # the whole response would take about 3 s


def test_a_document_longer_than_the_limit_is_refused(
    served: Served, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A document over ``MAX_DOCUMENT_BYTES`` fails to load, from a URL (read no further than the limit) or
    from a file."""
    monkeypatch.setattr(reader, "MAX_DOCUMENT_BYTES", 100)
    with pytest.raises(LoadError, match="larger than 100 bytes"):
        reader.load_data(f"{served.base}/valid/pets.arazzo.yaml")
    local = tmp_path / "long.yaml"
    local.write_text("a: " + "x" * 200 + "\n", encoding="utf-8")
    with pytest.raises(LoadError, match="larger than 100 bytes"):
        reader.load_data(local.as_uri())
    local.write_text("a: " + "x" * 90 + "\n", encoding="utf-8")
    assert reader.load_data(local.as_uri()) == {"a": "x" * 90}
