"""docs/conformance.md "Arazzo 1.1 checklist" stays true: each of the 46 changes from Arazzo 1.0.1 to 1.1.0
(ids A1–H7) has exactly one row, each row names tests in process and on loopback (or on the real brokers),
and every test it names is collected by pytest."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CONFORMANCE = ROOT / "docs" / "conformance.md"
TESTS = "tests/arazzo/"
V11 = "engine/test_v11.py"

# reference/arazzo-1.1.md §2: the change inventory
IDS = [
    *(f"A{n}" for n in range(1, 7)),
    *(f"B{n}" for n in range(1, 9)),
    "C1",
    "C2",
    "D1",
    "D2",
    "D3",
    "E1",
    "E2",
    *(f"F{n}" for n in range(1, 12)),
    *(f"G{n}" for n in range(1, 8)),
    *(f"H{n}" for n in range(1, 8)),
]


def _rows() -> dict[str, list[str]]:
    text = CONFORMANCE.read_text(encoding="utf-8")
    section = text.split("\n## Arazzo 1.1 checklist\n", 1)[1].split("\n## ", 1)[0]
    rows: dict[str, list[str]] = {}
    for line in section.splitlines():
        match = re.match(r"\| ([A-H]\d+) \|", line)
        if match:
            assert match.group(1) not in rows, f"{match.group(1)} is listed twice"
            cells = [cell.strip() for cell in re.split(r"(?<!\\)\|", line)[1:-1]]
            rows[match.group(1)] = cells
    return rows


def _named(cell: str) -> list[str]:
    """The node ids a cell names: ``v11[<id>]`` is a case run in process and on loopback."""
    found: list[str] = []
    for token in re.findall(r"`([^`]+)`", cell):
        case = re.fullmatch(r"v11\[(.+)\]", token)
        if case and case.group(1) != "…":
            found += [f"{V11}::test_in_process[{case.group(1)}]", f"{V11}::test_on_loopback[{case.group(1)}]"]
        elif "::" in token:
            found.append(token)
    return found


def test_every_checklist_id_has_one_row_with_tests_in_process_and_on_loopback() -> None:
    rows = _rows()
    assert list(rows) == IDS
    assert len(IDS) == 46
    for ident, cells in rows.items():
        _id, _change, _section, in_process, loopback = cells
        on_loopback = _named(loopback)
        if "`v11[…]`" in loopback:  # "the same v11[…] cases" as in process, which run on loopback too
            on_loopback += [name for name in _named(in_process) if "::test_on_loopback[" in name]
        assert on_loopback, f"{ident}: no test on loopback or on a real broker"
        assert _named(in_process), f"{ident}: no test in process"


def _contradictions() -> dict[int, list[str]]:
    """The rows of the section on reference §7 (items 1-12): item → cells."""
    text = CONFORMANCE.read_text(encoding="utf-8")
    section = text.split("\n## Where the 1.1.0 text contradicts itself", 1)[1].split("\n## ", 1)[0]
    rows: dict[int, list[str]] = {}
    for line in section.splitlines():
        match = re.match(r"\| (\d+) \|", line)
        if match:
            assert int(match.group(1)) not in rows, f"item {match.group(1)} is listed twice"
            rows[int(match.group(1))] = [cell.strip() for cell in re.split(r"(?<!\\)\|", line)[1:-1]]
    return rows


def test_every_contradiction_of_reference_section_7_has_a_decision_a_reason_and_a_test() -> None:
    rows = _contradictions()
    assert list(rows) == list(range(1, 13))
    for item, (_item, contradiction, decision, reason, tests) in rows.items():
        assert contradiction and decision and reason, f"item {item}: empty cell"
        assert _named(tests), f"item {item}: no test named"


def test_every_test_the_checklist_names_is_collected() -> None:
    named = {name for cells in _rows().values() for cell in cells[3:] for name in _named(cell)}
    named |= {name for cells in _contradictions().values() for name in _named(cells[4])}
    files = sorted({TESTS + name.split("::", 1)[0] for name in named})
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", *files],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    collected = {line.removeprefix(TESTS) for line in done.stdout.splitlines() if "::" in line}
    missing = [
        name
        for name in sorted(named)
        if name not in collected and not any(node.startswith(name + "[") for node in collected)
    ]
    assert not missing, missing
