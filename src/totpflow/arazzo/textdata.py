"""JSON and YAML text into plain Python data, as Arazzo 1.0.1 §4.3 ("Format") reads documents: JSON, or
YAML with the JSON schema tag set and string keys only. The YAML loader rejects non-string and duplicate
keys, resolves only ``true``/``false`` as booleans (not YAML 1.1's ``yes``/``on``), reads numbers as YAML
1.2's core schema does (``12:30`` is a string, ``012`` twelve, ``1e-9`` a float) and never turns a scalar
into a date. It uses libyaml (``CSafeLoader``) when available, several times faster than the pure-Python
loader on a 1 MB OpenAPI file; JSON goes through :mod:`json`, which is faster still.

Bounded as it is read: YAML aliases may expand to at most ``MAX_EXPANDED_NODES`` nodes and never contain
themselves ("billion laughs"), and an integer longer than ``int()`` reads or JSON nested deeper than the
interpreter's recursion limit is a :class:`LoadError` with its place. Documents (``document.reader``, which
adds caching) and ``--inputs`` files (``inputs.given``) are read here.
"""

from __future__ import annotations

import functools
import json
import re
import sys
from pathlib import Path
from typing import Any

from totpflow.arazzo.errors import LoadError


def read_at_most(path: Path, limit: int) -> bytes | None:
    """The file's bytes, or None when it holds more than ``limit`` (a device such as ``/dev/zero`` never
    ends: no more than ``limit + 1`` bytes are read). OSError as ``open`` raises it."""
    with path.open("rb") as handle:
        content = handle.read(limit + 1)
    return None if len(content) > limit else content


_YAML_BOOL = "tag:yaml.org,2002:bool"
_YAML_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_YAML_INT = "tag:yaml.org,2002:int"
_YAML_FLOAT = "tag:yaml.org,2002:float"
# YAML 1.2's core schema (§10.3.2): YAML 1.1's sexagesimal (12:30), "_" separators, a leading 0 for octal and
# floats that need a dot are plain strings or decimals there.
_CORE_INT = re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$")
_CORE_FLOAT = re.compile(
    r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
    r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
)


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
            """An integer of YAML 1.2's core schema: decimal (a leading 0 too), ``0o`` octal, ``0x`` hex."""
            text = str(self.construct_scalar(node))
            try:
                if text.startswith("0o"):
                    return int(text[2:], 8)
                if text.startswith("0x"):
                    return int(text[2:], 16)
                return int(text, 10)
            except ValueError:
                if _CORE_INT.match(text):  # more digits than int() converts (sys.get_int_max_str_digits)
                    limit = sys.get_int_max_str_digits()
                    raise LoadError("", f"{_where(node)}: an integer longer than {limit} digits") from None
                raise LoadError("", f"{_where(node)}: {text[:40]!r} is not an integer") from None

    _StrictLoader.add_constructor(_YAML_INT, _StrictLoader.construct_yaml_int)

    replaced = (_YAML_BOOL, _YAML_TIMESTAMP, _YAML_INT, _YAML_FLOAT)
    _StrictLoader.yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag not in replaced]
        for first, resolvers in _BaseLoader.yaml_implicit_resolvers.items()
    }
    _StrictLoader.add_implicit_resolver(
        _YAML_BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
    )
    _StrictLoader.add_implicit_resolver(_YAML_INT, _CORE_INT, list("-+0123456789"))
    _StrictLoader.add_implicit_resolver(_YAML_FLOAT, _CORE_FLOAT, list("-+.0123456789"))
    return _StrictLoader


# Nodes a YAML document may hold once its aliases are expanded: aliases let a few lines stand for billions
# of nodes ("billion laughs"), which everything that walks the document would then visit.
MAX_EXPANDED_NODES = 1_000_000


def _check_aliases(data: Any) -> None:
    """LoadError if ``data`` (parsed YAML whose aliases share nodes) contains itself (a recursive alias) or
    expands to more than ``MAX_EXPANDED_NODES`` nodes. Linear in the distinct nodes: each is sized once."""
    if not isinstance(data, dict | list):
        return
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


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    mapping = dict(pairs)
    if len(mapping) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise LoadError("", f"duplicate key {key!r}")
            seen.add(key)
    return mapping


def load_json(text: str, name: str = "") -> tuple[bool, Any]:
    """``(True, data)`` for text that is JSON, ``(False, None)`` for text that is not (YAML's flow style is a
    superset of JSON: the YAML parser then reports any problem); LoadError for JSON nested too deeply or
    with an integer too long to read."""
    if not text.lstrip().startswith(("{", "[")):
        return False, None
    prefix = f"{name}: " if name else ""
    try:
        return True, json.loads(text, object_pairs_hook=_unique_pairs)
    except json.JSONDecodeError:
        return False, None
    except RecursionError:
        raise LoadError("", f"{prefix}JSON nested too deeply") from None
    except ValueError:  # an integer of more digits than int() converts
        raise LoadError("", f"{prefix}JSON with an integer too long to read") from None


def load_yaml(text: str, name: str = "") -> Any:
    """Strict YAML (see the module docstring); LoadError with the line and column of a problem."""
    import yaml

    prefix = f"{name}: " if name else ""
    loader = _strict_loader()(text)
    try:
        data = loader.get_single_data()
        if loader.aliased:
            _check_aliases(data)
    except LoadError as exc:  # the loader's own checks
        raise LoadError(exc.location, prefix + exc.message) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        raise LoadError("", f"{prefix}{where}invalid YAML: {exc.problem}") from None
    except yaml.YAMLError as exc:
        raise LoadError("", f"{prefix}invalid YAML: {exc}") from None
    finally:
        loader.dispose()
    return data


def parse_text(text: str, name: str = "") -> Any:
    """JSON when the text is JSON, else YAML; never cached."""
    parsed, data = load_json(text, name)
    return data if parsed else load_yaml(text, name)
