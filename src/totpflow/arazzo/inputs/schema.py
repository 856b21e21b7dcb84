"""A workflow's ``inputs`` JSON Schema (2020-12), analysed once per document.

``InputsSchema.of(schema, components_inputs)`` follows ``$ref`` and merges ``allOf`` members to find the
declared properties, the required names, the ``format: password`` properties and the keywords that apply
to the inputs object as a whole; it builds a validator per property on first use. An analysis is shared by
every run of a loaded document (keyed by the identity of the schema objects, with a reference kept so the
identity stays valid), so repeated runs neither re-resolve references nor rebuild validators
(bench/bench_runner.py).

References resolve against the Arazzo document's ``components.inputs``, by JSON Schema 2020-12 rules: a
JSON Pointer (``#/components/inputs/credentials``, ``#/components/inputs/a~1b``) or a plain-name fragment
(``#credentials``) naming a ``$anchor`` declared in a component or in the workflow's own schema. The
``referencing`` library resolves them, imported only for a reference that is not a plain pointer from the
root (see ``_lookup``); ``jsonschema`` is imported only for a property whose schema is more than a bare
``type`` (``simple_type_check``). Other references (another document, a pointer elsewhere in the Arazzo
document) are refused with an InputError.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from totpflow.arazzo.errors import InputError
from totpflow.arazzo.expressions import pointer

if TYPE_CHECKING:
    from jsonschema.protocols import Validator
    from referencing._core import Resolver  # the type of Registry.resolver(), not re-exported

# The wrapper document that references resolve in. ``components.inputs`` is where JSON Pointers into the
# Arazzo document point; the same schemas are also listed under ``$defs``, because JSON Schema looks for
# ``$anchor``s only in schema keywords (``components`` is not one). JSON Schema 2020-12 ignores the unknown
# ``components`` keyword when validating.
_BASE_URI = "urn:totpflow:arazzo-document"
_DEFS = "totpflow:components/inputs"
WHOLE_OBJECT_KEYWORDS = ("additionalProperties", "propertyNames", "maxProperties", "dependentRequired")

_SHARED: dict[tuple[int, int], tuple[Any, Any, InputsSchema]] = {}
# Schemas and values followed this deep when looking for passwords; a part nested deeper is masked whole.
_MAX_DEPTH = 100


class InputsSchema:
    """Properties, required names and whole-object keywords of one inputs schema; validators on demand."""

    __slots__ = (
        "_components",
        "_resolver",
        "_root",
        "_top",
        "_top_marks",
        "_types",
        "_validators",
        "passwords",
        "properties",
        "required",
        "whole",
    )

    @classmethod
    def of(cls, schema: Mapping[str, Any] | None, components: Mapping[str, Any] | None) -> InputsSchema:
        """The analysis of ``schema``, shared while the schema objects are the document's own."""
        key = (id(schema), id(components))
        hit = _SHARED.get(key)
        if hit is not None and hit[0] is schema and hit[1] is components:
            return hit[2]
        analysed = cls(schema, components)
        if len(_SHARED) > 512:
            _SHARED.clear()
        _SHARED[key] = (schema, components, analysed)
        return analysed

    def __init__(self, schema: Mapping[str, Any] | None, components: Mapping[str, Any] | None) -> None:
        top = dict(schema or {})
        self._components = dict(components or {})
        self._root: dict[str, Any] = {
            "components": {"inputs": self._components},
            "$defs": {_DEFS: {"$defs": self._components}},
            "allOf": [top],
        }
        self._resolver: Resolver[Any] | None = None
        self._validators: dict[str, Validator] = {}
        self._types: dict[str, Mapping[str, Any]] = {}
        properties, required = self._effective(top, None, frozenset())
        self.properties: dict[str, Mapping[str, Any]] = properties
        self.required: tuple[str, ...] = required
        whole = self._deref(top, None, frozenset())[0]
        self.whole: dict[str, Any] = {k: v for k, v in whole.items() if k in WHOLE_OBJECT_KEYWORDS}
        # the properties whose schema marks the value, or a part of it, ``format: password`` (at any depth,
        # through ``$ref``, ``allOf``/``anyOf``/``oneOf``, ``properties``, ``items`` …)
        self.passwords = frozenset(name for name, prop in properties.items() if self._marks_password(prop))
        # an undeclared input's schema is the whole object's (``additionalProperties``, ``patternProperties``)
        self._top = whole
        self._top_marks = self._marks_password(whole)

    def value_types(self, name: str) -> Mapping[str, Any]:
        """``{"type": [...]}``: the JSON types a value of input ``name`` may take, for turning a command-line
        string into one (``coerce``); ``{}`` when any type may be. A property's own ``type``, narrowed by
        its ``$ref`` and ``allOf`` members, and by the union of its ``anyOf`` / ``oneOf`` members' (the common
        nullable ``anyOf: [{type: integer}, {type: 'null'}]``)."""
        cached = self._types.get(name)
        if cached is None:
            prop = self.properties.get(name)
            types = None if prop is None else self._value_types(prop, None, frozenset())
            cached = {} if types is None else {"type": list(types)}
            self._types[name] = cached
        return cached

    def _value_types(
        self, schema: Mapping[str, Any], resolver: Resolver[Any] | None, seen: frozenset[int]
    ) -> tuple[str, ...] | None:
        schema, resolver, seen = self._deref(schema, resolver, seen)
        kind = schema.get("type")
        types: tuple[str, ...] | None = (
            (kind,) if isinstance(kind, str) else tuple(map(str, kind)) if isinstance(kind, list) else None
        )
        for member in schema.get("allOf", ()):
            if isinstance(member, Mapping):
                types = _narrow(types, self._value_types(member, resolver, seen))
        for keyword in ("anyOf", "oneOf"):
            members = schema.get(keyword)
            if isinstance(members, list) and members:
                union: list[str] = []
                for member in members:
                    some = self._value_types(member, resolver, seen) if isinstance(member, Mapping) else None
                    if some is None:  # a member of any type: the union is any type
                        break
                    union.extend(t for t in some if t not in union)
                else:
                    types = _narrow(types, tuple(union))
        return types

    # -- passwords -------------------------------------------------------------------------------------

    def secret_parts(self, name: str, value: Any) -> list[Any]:
        """The parts of input ``name``'s ``value`` that its schema marks ``format: password``: the whole
        value, or the values at the marked places inside it (an object's property, an array's items), each
        place marked by any of the schemas that apply there (a member of ``anyOf``, ``oneOf`` or ``allOf``
        counts, so a nullable password is one)."""
        found: list[Any] = []
        if name in self.passwords:
            self._collect(self.properties[name], value, None, frozenset(), 0, set(), found)
        elif name not in self.properties and self._top_marks:
            self._collect(self._top, {name: value}, None, frozenset(), 0, set(), found)
        return found

    def _collect(
        self,
        schema: Mapping[str, Any],
        value: Any,
        resolver: Resolver[Any] | None,
        seen: frozenset[int],
        depth: int,
        done: set[tuple[int, int]],
        found: list[Any],
    ) -> None:
        """``found`` gets the marked parts of ``value``. ``seen`` (the references followed at this value)
        ends a cycle of references that reaches no deeper part; a recursive schema is followed as deep as
        the value goes, and a value nested deeper than ``_MAX_DEPTH`` is taken whole. ``done`` holds each
        (schema, value) pair already walked: a schema reached again by another path adds nothing new."""
        if depth > _MAX_DEPTH:
            found.append(value)
            return
        pair = (id(schema), id(value))
        if pair in done:
            return
        done.add(pair)
        schema, resolver, seen = self._deref(schema, resolver, seen)
        if schema.get("format") == "password":
            found.append(value)
            return
        for member in _members(schema):
            self._collect(member, value, resolver, seen, depth + 1, done, found)
        for part, applies in _parts(schema, value):
            self._collect(applies, part, resolver, frozenset(), depth + 1, done, found)

    def _marks_password(self, schema: Mapping[str, Any]) -> bool:
        """Whether any schema reachable from ``schema`` (through references and the keywords
        :func:`_subschemas` follows) says ``format: password``: each schema is looked at once."""
        stack: list[tuple[Mapping[str, Any], Resolver[Any] | None]] = [(schema, None)]
        looked: set[int] = set()
        while stack:
            node, resolver = stack.pop()
            if id(node) in looked:
                continue
            looked.add(id(node))
            if node.get("format") == "password":
                return True
            ref = node.get("$ref")
            if isinstance(ref, str):
                try:
                    target, inner = self._lookup(ref, resolver)
                except InputError:  # reported where the schema is used
                    target = None
                if isinstance(target, Mapping):
                    stack.append((target, inner))
            stack.extend((inner_schema, resolver) for inner_schema in _subschemas(node))
        return False

    # -- references ------------------------------------------------------------------------------------

    def _deref(
        self, node: Mapping[str, Any], resolver: Resolver[Any] | None, seen: frozenset[int]
    ) -> tuple[Mapping[str, Any], Resolver[Any] | None, frozenset[int]]:
        """``node`` with its ``$ref`` followed (repeatedly) and the referring schema's other keywords kept
        beside the target's; the resolver that reads the result's own references, and the targets followed
        so far (a reference cycle stops there: the schema stays as it is written)."""
        ref = node.get("$ref")
        if not isinstance(ref, str):
            return node, resolver, seen
        target, inner = self._lookup(ref, resolver)
        if id(target) in seen:
            return node, resolver, seen
        merged = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        return self._deref(merged, inner, seen | {id(target)})

    def _lookup(
        self, ref: str, resolver: Resolver[Any] | None
    ) -> tuple[Mapping[str, Any], Resolver[Any] | None]:
        """The schema ``ref`` names, and the resolver for the references inside it (None: the root's)."""
        if resolver is None and ref.startswith("#/"):
            # A JSON Pointer from the document's root, the common case (``#/components/inputs/x``), is
            # followed with the runner's RFC 6901 module: importing ``referencing`` (and attrs) costs a
            # ``totpflow run`` about 20 ms. A target with its own ``$id`` changes the base URI of the
            # references inside it, which ``referencing`` handles.
            try:
                target = pointer.resolve_tokens(self._root, pointer.split_fragment(ref[1:]))
            except pointer.PointerError:
                target = None
            if isinstance(target, Mapping) and "$id" not in target:
                return target, None
        from referencing.exceptions import Unresolvable

        try:
            resolved = (resolver or self._root_resolver()).lookup(ref)
        except Unresolvable:
            resolved = None
        if resolved is None or not isinstance(resolved.contents, Mapping):
            raise InputError("", f"the inputs schema refers to {ref}, which the document does not define")
        return resolved.contents, resolved.resolver

    def _root_resolver(self) -> Resolver[Any]:
        if self._resolver is None:
            from referencing import Registry
            from referencing.jsonschema import DRAFT202012

            registry = Registry().with_resource(_BASE_URI, DRAFT202012.create_resource(self._root))
            self._resolver = registry.resolver(base_uri=_BASE_URI)
        return self._resolver

    def _effective(
        self, schema: Mapping[str, Any], resolver: Resolver[Any] | None, seen: frozenset[int]
    ) -> tuple[dict[str, Mapping[str, Any]], tuple[str, ...]]:
        """Properties and required names, following ``$ref`` and merging ``allOf`` members."""
        properties: dict[str, Mapping[str, Any]] = {}
        required: list[str] = []
        resolved: Mapping[str, Any] = schema
        if "$ref" in schema:  # in 2020-12 a $ref applies beside its siblings, like one more allOf member
            target, inner, followed = self._deref({"$ref": schema["$ref"]}, resolver, seen)
            if followed is not seen:  # not a cycle
                properties, needed = self._effective(target, inner, followed)
                required.extend(needed)
            resolved = {k: v for k, v in schema.items() if k != "$ref"}
        for member in resolved.get("allOf", ()):
            if isinstance(member, Mapping):
                more, needed = self._effective(member, resolver, seen)
                properties.update(more)
                required.extend(needed)
        for name, prop in (resolved.get("properties") or {}).items():
            properties[str(name)] = self._deref(prop, resolver, seen)[0] if isinstance(prop, Mapping) else {}
        required.extend(str(name) for name in resolved.get("required", ()))
        return properties, tuple(dict.fromkeys(required))

    # -- validation ------------------------------------------------------------------------------------

    def validator(self, key: str, schema: Mapping[str, Any]) -> Validator:
        """A JSON Schema 2020-12 validator of ``schema`` (a property's, or the whole object's for ``""``),
        whose references resolve like the analysis's."""
        validator = self._validators.get(key)
        if validator is None:
            validator = _validator_class()({**self._root, "allOf": [dict(schema)]})
            self._validators[key] = validator
        return validator

    def errors(self, key: str, schema: Mapping[str, Any], value: Any) -> Iterator[Any]:
        """The validation errors of ``value``, in the order of their place in it."""
        return iter(sorted(self.validator(key, schema).iter_errors(value), key=lambda e: list(e.path)))


def _members(schema: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """Schemas that may apply to the same value: the members of ``allOf``, ``anyOf`` and ``oneOf``, ``if``,
    ``then`` and ``else``, ``not``, and the ``dependentSchemas`` (each taken as applying: a password that may
    be marked is masked)."""
    for keyword in ("allOf", "anyOf", "oneOf"):
        members = schema.get(keyword)
        if isinstance(members, list):
            yield from (member for member in members if isinstance(member, Mapping))
    for keyword in ("if", "then", "else", "not"):
        member = schema.get(keyword)
        if isinstance(member, Mapping):
            yield member
    dependent = schema.get("dependentSchemas")
    if isinstance(dependent, Mapping):
        yield from (member for member in dependent.values() if isinstance(member, Mapping))


def _parts(schema: Mapping[str, Any], value: Any) -> Iterator[tuple[Any, Mapping[str, Any]]]:
    """Each part of ``value`` (a property's value, an item) with a schema of ``schema`` that may apply to it:
    ``properties``, ``patternProperties``, and for the other keys ``additionalProperties`` and
    ``unevaluatedProperties``; ``prefixItems``, then ``items`` and ``unevaluatedItems``, and ``contains``
    for every item."""
    if isinstance(value, Mapping):
        named = _mapping(schema.get("properties"))
        patterns = _mapping(schema.get("patternProperties"))
        others = [schema.get(k) for k in ("additionalProperties", "unevaluatedProperties")]
        for key, item in value.items():
            matched = False
            if isinstance(named.get(key), Mapping):
                matched = True
                yield item, named[key]
            for pattern, applies in patterns.items():
                if isinstance(applies, Mapping) and _matches(str(pattern), str(key)):
                    matched = True
                    yield item, applies
            if not matched:
                yield from ((item, other) for other in others if isinstance(other, Mapping))
    elif isinstance(value, list | tuple):
        prefix = schema.get("prefixItems")
        prefix = prefix if isinstance(prefix, list) else []
        rest = [schema.get(k) for k in ("items", "unevaluatedItems")]
        contains = schema.get("contains")
        for index, item in enumerate(value):
            if index < len(prefix):
                if isinstance(prefix[index], Mapping):
                    yield item, prefix[index]
            else:
                yield from ((item, other) for other in rest if isinstance(other, Mapping))
            if isinstance(contains, Mapping):
                yield item, contains


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _subschemas(schema: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """Every schema directly inside ``schema`` that :func:`_members` or :func:`_parts` can reach."""
    yield from _members(schema)
    for keyword in ("properties", "patternProperties"):
        named = schema.get(keyword)
        if isinstance(named, Mapping):
            yield from (inner for inner in named.values() if isinstance(inner, Mapping))
    prefix = schema.get("prefixItems")
    if isinstance(prefix, list):
        yield from (inner for inner in prefix if isinstance(inner, Mapping))
    for keyword in ("additionalProperties", "unevaluatedProperties", "items", "unevaluatedItems", "contains"):
        inner = schema.get(keyword)
        if isinstance(inner, Mapping):
            yield inner


def _matches(pattern: str, key: str) -> bool:
    """Whether ``key`` matches a ``patternProperties`` pattern; a pattern Python cannot compile (ECMA-262
    syntax it lacks) is taken to match, so that a marked value is masked rather than shown."""
    try:
        return re.search(pattern, key) is not None
    except re.error:
        return True


def _narrow(types: tuple[str, ...] | None, more: tuple[str, ...] | None) -> tuple[str, ...] | None:
    """The types both allow (None: any type); an integer is a number."""
    if types is None:
        return more
    if more is None:
        return types
    both = [kind for kind in types if kind in more]
    if "integer" not in both and (
        ("integer" in types and "number" in more) or ("number" in types and "integer" in more)
    ):
        both.append("integer")
    return tuple(both)


def _validator_class() -> Any:
    """JSON Schema 2020-12 with ``pattern`` as the specification defines it, an ECMA-262 regular expression
    (``expressions.ecma_regex``, where a pattern that can backtrack catastrophically runs under a time bound),
    rather than the ``re`` module's dialect."""
    global _VALIDATOR
    if _VALIDATOR is None:
        from jsonschema import Draft202012Validator, validators

        _VALIDATOR = validators.extend(Draft202012Validator, {"pattern": _pattern})  # type: ignore[no-untyped-call]
    return _VALIDATOR


_VALIDATOR: Any = None


def _pattern(validator: Any, pattern: Any, instance: Any, schema: Any) -> Iterator[Any]:
    from jsonschema import ValidationError

    from totpflow.arazzo.errors import EvaluationError
    from totpflow.arazzo.expressions.ecma_regex import RegexSyntaxError, compile_ecma

    if not validator.is_type(instance, "string") or not isinstance(pattern, str):
        return
    try:
        matched = compile_ecma(pattern).test(instance)
    except RegexSyntaxError:
        yield ValidationError(f"{pattern!r} is not a valid regular expression")
    except EvaluationError as exc:  # a guarded pattern ran out of time
        yield ValidationError(exc.message)
    else:
        if not matched:
            yield ValidationError(f"the value does not match {pattern!r}")


_ANNOTATIONS = frozenset({"type", "description", "title", "format", "default", "examples", "deprecated"})
_SIMPLE_TYPES: dict[str, Callable[[Any], bool]] = {
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: (
        (isinstance(v, int) and not isinstance(v, bool)) or (isinstance(v, float) and v.is_integer())
    ),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
}


def simple_type_check(schema: Mapping[str, Any], value: Any) -> bool | None:
    """Whether ``value`` satisfies a schema made only of ``type`` and annotations (``format`` is an annotation
    in JSON Schema 2020-12 unless a format vocabulary is asserted); None when the schema needs the
    validator."""
    kind = schema.get("type")
    if not isinstance(kind, str) or kind not in _SIMPLE_TYPES or not schema.keys() <= _ANNOTATIONS:
        return None
    return _SIMPLE_TYPES[kind](value)
