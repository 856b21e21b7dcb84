"""Load a YAML case table from tests/arazzo/cases/ and turn its rows into pytest parameters."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

CASES_DIR = Path(__file__).resolve().parent.parent / "cases"


def load(name: str) -> dict[str, Any]:
    with (CASES_DIR / name).open(encoding="utf-8") as fh:
        data: dict[str, Any] = yaml.load(fh, Loader=yaml.CSafeLoader)
    return data


def params(table: dict[str, Any], section: str, key: str) -> list[Any]:
    """One pytest.param per row of ``section``, id'd by the row's ``id`` or its ``key`` text."""
    rows = table.get(section) or []
    out = []
    for row in rows:
        marks = [pytest.mark.skip(reason=row["skip"])] if "skip" in row else []
        ident = str(row.get("id") or row[key])
        out.append(pytest.param(row, id=ident, marks=marks))
    return out


def given(table: dict[str, Any], row: dict[str, Any]) -> dict[str, Any]:
    """The run state a row is evaluated in: a named context (default ``default``) or an inline mapping."""
    spec = row.get("given", "default")
    if isinstance(spec, str):
        context: dict[str, Any] = table["contexts"][spec]
        return context
    return dict(spec)
