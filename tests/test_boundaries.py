"""Import boundaries: the runner and the server never import each other, the runner's packages import only
layers below their own and never form a cycle, and the CLI's start-up imports neither half.

The static checks read every ``import`` statement of a module with ``ast``: at the top, inside a function
(lazy imports for start-up) and under ``TYPE_CHECKING`` alike, so a cycle cannot hide behind any of them.
Importing ``a.b.c`` from outside ``a.b`` also runs ``a/b/__init__.py``, so it counts as importing ``a.b``.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"

# The runner's layers, lowest first: a module may import modules of lower layers and of its own package
# (``expressions.parser`` → ``expressions.lexer``), never a module of a higher layer or of another package
# of its own layer. Every top-level module or package of ``totpflow.arazzo`` must be listed.
ARAZZO_LAYERS: tuple[tuple[str, ...], ...] = (
    ("errors",),
    # pure pieces and the HTTP seam
    ("expressions", "params", "senders", "results", "masking", "textdata", "printable"),
    ("criteria", "body", "asyncapi", "inputs", "security"),
    ("document",),
    ("sources",),
    ("engine", "validation"),
    ("upgrade",),  # judges a rewritten document with the engine's own dependency rules
    ("reports",),
    ("api",),
    ("__init__",),  # the public names, imported on first use
)

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


def import_graph(src: Path, package: str) -> dict[str, set[str]]:
    """Module → the modules of ``package`` it imports, from the source under ``src`` (``package`` dotted)."""
    modules: dict[str, tuple[Path, bool]] = {}
    for path in (src / package.replace(".", "/")).rglob("*.py"):
        parts = list(path.relative_to(src).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        modules[".".join(parts[:-1] if is_package else parts)] = (path, is_package)

    def ancestors(name: str) -> set[str]:
        parts = name.split(".")
        return {".".join(parts[:i]) for i in range(1, len(parts))}

    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, (path, is_package) in modules.items():
        here = name if is_package else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = here.split(".")[: len(here.split(".")) - node.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                targets = [base, *(f"{base}.{alias.name}" for alias in node.names)]
            for target in targets:
                if target not in modules:
                    continue
                # the target, and every package __init__ on its way that is not already running for ``name``
                for module in ancestors(target) | {target}:
                    if module in modules and module != name and module not in ancestors(name):
                        graph[name].add(module)
    return graph


def find_cycle(graph: Mapping[str, set[str]]) -> list[str] | None:
    """One import cycle of ``graph`` as [a, b, …, a], or None when it is acyclic."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return [*path[path.index(target) :], target]
            if target not in state and (cycle := visit(target)) is not None:
                return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)) is not None:
            return cycle
    return None


def _layer_of(module: str) -> tuple[int, str]:
    parts = module.split(".")
    top = parts[2] if len(parts) > 2 else "__init__"
    for index, members in enumerate(ARAZZO_LAYERS):
        if top in members:
            return index, top
    raise AssertionError(f"{module}: {top!r} is in no layer of ARAZZO_LAYERS; place it there")


def test_the_runner_has_no_import_cycles() -> None:
    cycle = find_cycle(import_graph(SRC, "totpflow.arazzo"))
    assert cycle is None, "import cycle: " + " -> ".join(cycle or ())


def test_the_runner_imports_only_lower_layers() -> None:
    wrong = []
    for module, targets in sorted(import_graph(SRC, "totpflow.arazzo").items()):
        layer, top = _layer_of(module)
        for target in sorted(targets):
            target_layer, target_top = _layer_of(target)
            if target_top != top and target_layer >= layer:
                wrong.append(f"{module} ({ARAZZO_LAYERS[layer]}) imports {target}")
    assert not wrong, "\n".join(wrong)


def test_the_two_halves_import_nothing_of_the_cli() -> None:
    """``totpflow.arazzo`` and ``totpflow.server`` import only themselves of totpflow (and its version)."""
    for package in ("arazzo", "server"):
        for path in (SRC / "totpflow" / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                names = []
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and not node.level:
                    names = [node.module or ""]
                for name in names:
                    if name == "totpflow" or not name.startswith("totpflow."):
                        continue
                    assert name.startswith(f"totpflow.{package}"), f"{path.relative_to(SRC)} imports {name}"


def _write_package(root: Path, files: Mapping[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


@pytest.mark.parametrize(
    ("files", "cycle"),
    [
        pytest.param(  # a lazy import inside a function still closes a cycle
            {"a.py": "from pkg.b import x\n", "b.py": "def f():\n    from pkg import a\n"},
            ["pkg.a", "pkg.b", "pkg.a"],
            id="function-level",
        ),
        pytest.param(  # so does an import for type checking only
            {
                "a.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.b import B\n",
                "b.py": "from .a import A\n",
            },
            ["pkg.a", "pkg.b", "pkg.a"],
            id="type-checking-and-relative",
        ),
        pytest.param(  # importing sub.model runs sub/__init__, which imports the importer back
            {
                "sub/__init__.py": "from pkg.sub.loader import load\n",
                "sub/loader.py": "import pkg.user\n",
                "sub/model.py": "",
                "user.py": "from pkg.sub.model import M\n",
            },
            ["pkg.sub", "pkg.sub.loader", "pkg.user", "pkg.sub"],
            id="through-a-package-init",
        ),
        pytest.param(  # a package's own modules importing its other modules do not re-run its __init__
            {
                "sub/__init__.py": "from pkg.sub.loader import load\n",
                "sub/loader.py": "from pkg.sub.model import M\n",
                "sub/model.py": "",
            },
            None,
            id="acyclic",
        ),
    ],
)
def test_the_cycle_check_finds_a_cycle(
    tmp_path: Path, files: dict[str, str], cycle: list[str] | None
) -> None:
    _write_package(tmp_path / "pkg", {"__init__.py": "", **files})
    assert find_cycle(import_graph(tmp_path, "pkg")) == cycle


def test_services_depend_on_the_storage_protocol_only() -> None:
    """Services see the store through ``storage.protocol`` and ``storage.records``: no SQLAlchemy, no
    implementation module (static, so a lazy import inside a function is caught too)."""
    allowed = {"totpflow.server.storage.protocol", "totpflow.server.storage.records"}
    paths = sorted((SRC / "totpflow" / "server" / "services").rglob("*.py"))
    assert paths
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                modules = [node.module or ""]
            else:
                continue
            for module in modules:
                assert module.split(".")[0] != "sqlalchemy", f"{path.name} imports {module}"
                if module.startswith("totpflow.server.storage"):
                    assert module in allowed, f"{path.name} imports {module}"
