"""XPath 1.0 through libxml2 (``expressions.xpath10``): the values its results become, and the expressions
refused when compiled, from ``tests/arazzo/cases/xpath10.yaml``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from totpflow.arazzo.expressions import xpath10
from totpflow.arazzo.expressions.selector import compile_selector

TABLE = yaml.safe_load((Path(__file__).parents[1] / "cases" / "xpath10.yaml").read_text(encoding="utf-8"))


@pytest.mark.parametrize("case", TABLE["cases"], ids=[case["id"] for case in TABLE["cases"]])
def test_xpath10(case: dict[str, Any]) -> None:
    if case.get("error") == "compile":
        with pytest.raises(xpath10.XPathFailure):
            xpath10.compile_xpath(case["expression"])
        return
    root = xpath10.parse(TABLE["document"])
    assert xpath10.values(xpath10.compile_xpath(case["expression"]), root) == case["values"]


DOCUMENT_NODE = [case for case in TABLE["cases"] if case["id"].startswith("document-node")]


@pytest.mark.parametrize("case", DOCUMENT_NODE, ids=[case["id"] for case in DOCUMENT_NODE])
def test_a_selector_reads_the_document_node_as_the_other_xpath_versions_do(case: dict[str, Any]) -> None:
    def select(version: str) -> Any:
        selector = {"type": "xpath", "version": version}
        query = {"context": "$response.body", "selector": case["expression"], "type": selector}
        return compile_selector(query).select(TABLE["document"])

    assert select("xpath-10") == select("xpath-31") is not None


def test_a_document_deeper_than_libxml2s_default_limit_parses() -> None:
    """300 levels (libxml2 stops at 256 without ``huge_tree``; the other XPath versions take any depth)."""
    root = xpath10.parse("<d>" * 300 + "</d>" * 300)
    assert xpath10.values(xpath10.compile_xpath("count(//d)"), root) == [300]


def test_text_xml_cannot_hold_is_refused_when_written() -> None:
    root = xpath10.parse("<a><b/></a>")
    (node,) = xpath10.evaluate(xpath10.compile_xpath("/a/b"), root)
    with pytest.raises(xpath10.XPathFailure):
        xpath10.set_node(node, "ctl\x01x")


def test_text_with_a_lone_surrogate_is_no_document() -> None:
    with pytest.raises(xpath10.XPathFailure):
        xpath10.parse("<a>\ud800</a>")
