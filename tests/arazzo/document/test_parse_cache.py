"""The cross-process cache of parsed YAML: same data as a fresh parse, keyed by content, never fatal."""

from __future__ import annotations

from pathlib import Path

import pytest

from totpflow.arazzo.document import reader


def _big_yaml(marker: str) -> str:
    paths = "".join(
        f"  /v1/items/{i}:\n    get:\n      operationId: get{i}\n      summary: 'item {i} {marker}'\n"
        for i in range(1500)
    )
    return f"openapi: 3.1.0\ninfo: {{title: big, version: '1'}}\npaths:\n{paths}"


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TOTPFLOW_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_a_large_document_is_cached_and_read_back_identically(cache_dir: Path) -> None:
    text = _big_yaml("a")
    first = reader.parse_text(text)
    [entry] = (cache_dir / "yaml").iterdir()
    assert reader.parse_text(text) == first
    assert first["paths"]["/v1/items/7"]["get"]["operationId"] == "get7"
    # A changed text is a different entry, never the old data.
    changed = reader.parse_text(_big_yaml("b"))
    assert changed["paths"]["/v1/items/7"]["get"]["summary"] == "item 7 b"
    assert len(list((cache_dir / "yaml").iterdir())) == 2
    assert entry.exists()


def test_a_corrupt_entry_is_parsed_again(cache_dir: Path) -> None:
    text = _big_yaml("c")
    expected = reader.parse_text(text)
    [entry] = (cache_dir / "yaml").iterdir()
    entry.write_bytes(b"\xc1 not msgpack")
    assert reader.parse_text(text) == expected


def test_small_documents_and_an_empty_setting_skip_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOTPFLOW_CACHE_DIR", "")
    reader.parse_text(_big_yaml("d"))
    monkeypatch.setenv("TOTPFLOW_CACHE_DIR", str(tmp_path / "cache"))
    reader.parse_text("a: 1\n")
    assert not (tmp_path / "cache").exists()


def test_invalid_yaml_is_still_reported(cache_dir: Path) -> None:
    with pytest.raises(Exception, match="invalid YAML"):
        reader.parse_text(_big_yaml("e") + "  bad: [\n")
