"""The runner and the server never import each other; the CLI's start-up imports neither."""

from __future__ import annotations

import subprocess
import sys

import pytest

CHECK = """
import sys, {module}
loaded = sorted(m for m in sys.modules if m.startswith("totpflow.{forbidden}"))
print(",".join(loaded))
"""


@pytest.mark.parametrize(
    ("module", "forbidden"),
    [("totpflow.arazzo", "server"), ("totpflow.server", "arazzo")],
)
def test_subpackages_do_not_import_each_other(module: str, forbidden: str) -> None:
    out = subprocess.run(
        [sys.executable, "-c", CHECK.format(module=module, forbidden=forbidden)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert out == "", f"{module} loaded {out}"


def test_source_files_do_not_import_each_other() -> None:
    """Static check over every module, so a lazy import inside a function is caught too."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "src" / "totpflow"
    for package, forbidden in (("arazzo", "totpflow.server"), ("server", "totpflow.arazzo")):
        pattern = re.compile(
            rf"^\s*(from|import)\s+{re.escape(forbidden)}\b|import_module\([\"']{re.escape(forbidden)}", re.M
        )
        for path in (root / package).rglob("*.py"):
            text = path.read_text(encoding="utf-8")
            assert not pattern.search(text), f"{path.relative_to(root)} imports {forbidden}"


def test_cli_help_imports_no_heavy_modules() -> None:
    code = (
        "import sys\n"
        "from totpflow.cli import build_parser\n"
        "build_parser()\n"
        "heavy = ('httpx', 'sqlalchemy', 'starlette', 'jsonschema', 'rich', 'cryptography', 'yaml')\n"
        "heavy += ('ruamel',)\n"
        "heavy = [m for m in heavy if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == "", f"building the CLI parser imported {out}"
