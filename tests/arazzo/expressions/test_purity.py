"""``expressions`` and ``criteria`` are the pure core: at module level they import only the standard library,
msgspec (whose ``Struct`` is the record type of the whole runner) and the runner's own records (errors,
results, each other). The query libraries of ``criteria`` are imported
inside the functions that use them, and the document model only for type checking."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

import totpflow.arazzo.criteria
import totpflow.arazzo.expressions

ALLOWED_OWN = ("totpflow.arazzo.errors", "totpflow.arazzo.results", "totpflow.arazzo.expressions")
FILES = [
    *sorted(Path(totpflow.arazzo.expressions.__file__).parent.glob("*.py")),
    Path(totpflow.arazzo.criteria.__file__),
]


def _module_level_imports(tree: ast.Module) -> list[str]:
    names: list[str] = []
    for node in tree.body:  # module level only; `if TYPE_CHECKING:` blocks are skipped on purpose
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_imports_only_stdlib_and_own_records(path: Path) -> None:
    for name in _module_level_imports(ast.parse(path.read_text(encoding="utf-8"))):
        top = name.split(".")[0]
        if top == "totpflow":
            assert name.startswith(ALLOWED_OWN), f"{path.name} imports {name}"
        else:
            assert top in sys.stdlib_module_names or top in ("__future__", "msgspec"), (
                f"{path.name} imports {name}"
            )
