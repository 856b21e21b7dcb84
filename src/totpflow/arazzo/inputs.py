"""Workflow inputs, resolved lazily: given, computed from earlier results, or asked for on a terminal.

Public API::

    InputResolver(schema, given, computed=None, prompt=None, components_inputs=None, *,
                  masker=None, secret_names=(), clock=time.time)
        .check_upfront()          before any request: InputError when a given value is not valid against the
                                  workflow's ``inputs`` JSON Schema, or a required input is neither given,
                                  computed, defaulted nor promptable
        .get(name, ctx) -> Any    the value, resolved on first use and cached (see "Order" below)
        .values() -> dict         what has been resolved so far (given values included), for reports
        .declared / .required     property names of the (dereferenced) schema
    Computation                   a parsed ``--compute`` value; .evaluate(ctx, now) -> Any; .is_totp
    parse_computation(text) -> Computation
    parse_compute_option("NAME=…") -> (name, Computation)
    parse_input_option("k=v") -> (k, "v")   ;   an argument starting with "{" is a JSON object of inputs
    load_inputs_file(path) -> dict          JSON or YAML (an object at the top)
    merge_inputs(files, options) -> dict    every file, then every --input; later wins
    coerce(value, schema) -> Any            a command-line string → the schema's type (integer, number,
                                            boolean, null, object/array via JSON), as Redocly respect does
    totp_code(secret_base32, at, *, digits=6, period=30, algorithm="SHA1") -> str     RFC 6238
    Prompt = Callable[[name, property_schema, ctx], raw value]       what InputResolver calls to ask
    terminal_prompt(preamble=None, *, ask=input, ask_secret=None) -> Callable[[PromptSubject], str]
        PromptSubject: anything with ``.name`` and ``.schema`` (engine.options.PromptRequest fits)

Order, on first use of ``$inputs.NAME``: the given value (``--inputs FILE``, ``--input k=v``, or a calling
step's parameters) → the computed value → the schema's ``default`` → the prompt (only when a prompt callback
was given, i.e. stdin is a terminal, and only for *required* inputs) → InputError. A declared optional input
with none of these reads as ``null``. Every value is coerced (strings from the command line or the prompt) and
validated against its property schema (JSON Schema 2020-12, ``$ref: '#/components/inputs/x'`` resolved
against the document's ``components``). Error messages name the failing keyword, never the value, since the
value may be secret.

Computed inputs (``--compute NAME=SPEC``; SPEC is parsed once, when the option is read)::

    --compute totp_code='totp($steps.createTotp.outputs.secret)'
    --compute totp_code='totp($steps.createTotp.outputs.secret, digits=8, period=60, algorithm=SHA256)'
    --compute user='$steps.createUser.outputs.userId'        a runtime expression, or a {$…} template

``totp(EXPR, …)`` evaluates EXPR (a base32 secret, as returned by an authenticator enrollment) and returns the
TOTP code for the current time (RFC 6238 §4: SHA1 by default, 6 digits, 30 s steps, T0 = 0; algorithm one of
SHA1, SHA256, SHA512). This is how an unattended run passes the first code of a TOTP enrollment: the secret
exists only after an earlier step, so the input cannot be given up front.

Secrets: a ``format: password`` property, a name in ``secret_names`` (``--secret-input``) and every computed
TOTP code are registered with the Masker as soon as their value is known.
"""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import msgspec

from totpflow.arazzo.errors import InputError, UsageError
from totpflow.arazzo.expressions import pointer
from totpflow.arazzo.expressions.pointer import PointerError
from totpflow.arazzo.masking import Masker

TOTP_ALGORITHMS = {"SHA1": "sha1", "SHA256": "sha256", "SHA512": "sha512"}
_TOTP_OPTION = re.compile(r"^\s*(digits|period|algorithm)\s*=\s*([A-Za-z0-9]+)\s*$")


class _Evaluable(Protocol):
    def evaluate(self, ctx: Any) -> Any: ...


Prompt = Callable[[str, Mapping[str, Any], Any], Any]
"""``prompt(name, property_schema, ctx) -> raw value``; the engine adapts its own prompt request to this."""


# -- TOTP ----------------------------------------------------------------------------------------------


def totp_code(secret: str, at: float, *, digits: int = 6, period: int = 30, algorithm: str = "SHA1") -> str:
    """RFC 6238 §4 TOTP (HOTP of RFC 4226 §5.3 over T = floor(at / period)); ``secret`` is base32
    (RFC 4648 §6; case, spaces and missing padding tolerated, as authenticator apps do)."""
    digest = TOTP_ALGORITHMS.get(algorithm.upper())
    if digest is None:
        raise InputError("", f"totp(): algorithm must be one of {', '.join(TOTP_ALGORITHMS)}")
    cleaned = re.sub(r"[\s=-]", "", secret).upper()
    try:
        key = base64.b32decode(cleaned + "=" * (-len(cleaned) % 8))
    except ValueError as exc:
        raise InputError("", "totp(): the secret is not base32") from exc
    counter = int(at // period)
    import hmac  # only when a TOTP code is computed

    mac = hmac.new(key, counter.to_bytes(8, "big"), digest).digest()
    offset = mac[-1] & 0x0F
    number = int.from_bytes(mac[offset : offset + 4], "big") & 0x7FFFFFFF
    return str(number % 10**digits).zfill(digits)


# -- computations --------------------------------------------------------------------------------------


class Computation(msgspec.Struct, frozen=True):
    text: str
    value: _Evaluable
    is_totp: bool = False
    digits: int = 6
    period: int = 30
    algorithm: str = "SHA1"

    def evaluate(self, ctx: Any, now: float) -> Any:
        result = self.value.evaluate(ctx)
        if not self.is_totp:
            return result
        if not isinstance(result, str) or not result:
            raise InputError("", f"{self.text}: the expression did not produce a base32 secret")
        return totp_code(result, now, digits=self.digits, period=self.period, algorithm=self.algorithm)


def _compile(text: str) -> _Evaluable:
    from totpflow.arazzo.expressions.compile import compile_value

    compiled: _Evaluable = compile_value(text)
    return compiled


def parse_computation(text: str, *, compile_text: Callable[[str], _Evaluable] = _compile) -> Computation:
    stripped = text.strip()
    if not (stripped.startswith("totp(") and stripped.endswith(")")):
        return Computation(text=stripped, value=compile_text(stripped))
    inner = stripped[len("totp(") : -1]
    pieces = inner.split(",")
    options: dict[str, str] = {}
    while len(pieces) > 1 and (match := _TOTP_OPTION.match(pieces[-1])):
        options[match.group(1)] = match.group(2)
        pieces.pop()
    expression = ",".join(pieces).strip()
    if not expression:
        raise UsageError(f"--compute {stripped!r}: totp() needs an expression, e.g. totp($steps.s.outputs.x)")
    try:
        digits = int(options.get("digits", "6"))
        period = int(options.get("period", "30"))
    except ValueError as exc:
        raise UsageError(f"--compute {stripped!r}: digits and period must be integers") from exc
    algorithm = options.get("algorithm", "SHA1").upper()
    if algorithm not in TOTP_ALGORITHMS or not 6 <= digits <= 10 or period <= 0:
        raise UsageError(
            f"--compute {stripped!r}: digits 6–10, period > 0, algorithm one of {', '.join(TOTP_ALGORITHMS)}"
        )
    return Computation(stripped, compile_text(expression), True, digits, period, algorithm)


def parse_compute_option(
    text: str, *, compile_text: Callable[[str], _Evaluable] = _compile
) -> tuple[str, Computation]:
    name, sep, spec = text.partition("=")
    if not sep or not name.strip() or not spec.strip():
        raise UsageError("--compute expects NAME=totp(EXPR) or NAME=EXPR")
    return name.strip(), parse_computation(spec, compile_text=compile_text)


# -- given values --------------------------------------------------------------------------------------


def parse_input_option(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise UsageError("--input expects NAME=VALUE (or a JSON object)")
    return name, value


def load_inputs_file(path: str | Path) -> dict[str, Any]:
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"--inputs {file}: cannot read ({exc.strerror})") from exc
    try:
        if file.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            import yaml  # the C loader when available; YAML is a superset of JSON

            loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
            data = yaml.load(text, Loader=loader)
    except ValueError as exc:
        raise UsageError(f"--inputs {file}: not valid JSON or YAML") from exc
    except Exception as exc:  # yaml.YAMLError; the message could quote a secret value, so it is not shown
        raise UsageError(f"--inputs {file}: not valid JSON or YAML") from exc
    if not isinstance(data, dict):
        raise UsageError(f"--inputs {file}: the top level must be an object of input names to values")
    return data


def merge_inputs(files: Sequence[str | Path] = (), options: Sequence[str] = ()) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for file in files:
        merged.update(load_inputs_file(file))
    for option in options:
        if option.lstrip().startswith("{"):
            try:
                data = json.loads(option)
            except ValueError as exc:
                raise UsageError("--input: a value starting with '{' must be a JSON object") from exc
            if not isinstance(data, dict):
                raise UsageError("--input: a value starting with '{' must be a JSON object")
            merged.update(data)
        else:
            name, value = parse_input_option(option)
            merged[name] = value
    return merged


def _types(schema: Mapping[str, Any]) -> list[str]:
    kind = schema.get("type")
    if isinstance(kind, str):
        return [kind]
    if isinstance(kind, list):
        return [str(item) for item in kind]
    return []


def coerce(value: Any, schema: Mapping[str, Any]) -> Any:
    if not isinstance(value, str):
        return value
    types = _types(schema)
    if not types or "string" in types:
        return value
    text = value.strip()
    for kind in types:
        if kind == "integer" and re.fullmatch(r"[-+]?\d+", text):
            return int(text)
        if kind == "number" and re.fullmatch(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?", text):
            number = float(text)
            return int(number) if number.is_integer() and re.fullmatch(r"[-+]?\d+", text) else number
        if kind == "boolean" and text.lower() in ("true", "false"):
            return text.lower() == "true"
        if kind == "null" and text in ("null", ""):
            return None
        if kind in ("object", "array"):
            try:
                parsed = json.loads(text)
            except ValueError:
                continue
            if isinstance(parsed, dict if kind == "object" else list):
                return parsed
    return value


# -- the resolver --------------------------------------------------------------------------------------


_SHARED_VALIDATORS: dict[tuple[int, int], tuple[Mapping[str, Any], Any, Any]] = {}
_SHARED_SCHEMAS: dict[tuple[int, int], tuple[Any, Any, tuple[Any, ...]]] = {}


class InputResolver:
    def __init__(
        self,
        schema: Mapping[str, Any] | None,
        given: Mapping[str, Any],
        computed: Mapping[str, Computation] | None = None,
        prompt: Prompt | None = None,
        components_inputs: Mapping[str, Any] | None = None,
        *,
        masker: Masker | None = None,
        secret_names: Iterable[str] = (),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._schema: dict[str, Any] = dict(schema or {})
        self._components_source = components_inputs
        self._components = dict(components_inputs or {})
        self._given = dict(given)
        self._computed = dict(computed or {})
        self._prompt = prompt
        self._masker = masker
        self._secret_names = frozenset(secret_names)
        self._clock = clock
        self._cache: dict[str, Any] = {}
        self._checked: dict[str, Any] = {}  # given values validated by check_upfront, coerced
        self._validators: dict[str, Any] = {}
        key = (id(schema), id(components_inputs))
        hit = _SHARED_SCHEMAS.get(key)
        if hit is not None and hit[0] is schema and hit[1] is components_inputs:
            effective = hit[2]
        else:
            # Shared across resolvers (one per run) while the schema objects are the document's own, like the
            # validators below.
            properties, required = self._effective(self._schema)
            passwords = frozenset(
                name for name, prop in properties.items() if prop.get("format") == "password"
            )
            effective = (properties, required, self._whole_object_keywords(), passwords)
            if len(_SHARED_SCHEMAS) > 512:
                _SHARED_SCHEMAS.clear()
            _SHARED_SCHEMAS[key] = (schema, components_inputs, effective)
        self._properties: dict[str, Mapping[str, Any]] = effective[0]
        self.required: tuple[str, ...] = effective[1]
        self._whole_object: dict[str, Any] = effective[2]
        self._passwords: frozenset[str] = effective[3]
        self.declared: tuple[str, ...] = tuple(self._properties)
        if masker is not None:  # secrets given up front are masked from the first recorded byte on
            for name, value in self._given.items():
                if self._is_secret(name):
                    masker.add(coerce(value, self._properties.get(name, {})))

    # -- schema ----------------------------------------------------------------------------------------

    def _deref(self, schema: Mapping[str, Any], seen: frozenset[str] = frozenset()) -> Mapping[str, Any]:
        ref = schema.get("$ref")
        if not isinstance(ref, str) or not ref.startswith("#/components/inputs/") or ref in seen:
            return schema
        try:
            target = pointer.resolve_tokens(self._components, pointer.split_fragment(ref[1:])[2:])
        except PointerError:
            target = None
        if not isinstance(target, Mapping):
            raise InputError("", f"the inputs schema refers to {ref}, which the document does not define")
        merged = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
        return self._deref(merged, seen | {ref})

    def _effective(self, schema: Mapping[str, Any]) -> tuple[dict[str, Mapping[str, Any]], tuple[str, ...]]:
        """Properties and required names, following $ref into components and merging allOf members."""
        properties: dict[str, Mapping[str, Any]] = {}
        required: list[str] = []
        resolved: Mapping[str, Any] = schema
        if "$ref" in schema:  # in 2020-12 a $ref applies beside its siblings, like one more allOf member
            target = self._deref({"$ref": schema["$ref"]})
            properties, needed = self._effective(target)
            required.extend(needed)
            resolved = {k: v for k, v in schema.items() if k != "$ref"}
        for member in resolved.get("allOf", ()):
            if isinstance(member, Mapping):
                more, needed = self._effective(member)
                properties.update(more)
                required.extend(needed)
        for name, prop in (resolved.get("properties") or {}).items():
            properties[str(name)] = self._deref(prop) if isinstance(prop, Mapping) else {}
        required.extend(str(name) for name in resolved.get("required", ()))
        return properties, tuple(dict.fromkeys(required))

    def schema_keyword(self, keyword: str) -> Any:
        """A keyword of the whole (dereferenced) inputs schema: ``additionalProperties``,
        ``propertyNames``, ``maxProperties`` or ``dependentRequired``; None when absent."""
        return self._whole_object.get(keyword)

    def _whole_object_keywords(self) -> dict[str, Any]:
        return {
            k: v
            for k, v in self._deref(self._schema).items()
            if k in ("additionalProperties", "propertyNames", "maxProperties", "dependentRequired")
        }

    def _validator(self, key: str, schema: Mapping[str, Any]) -> Any:
        validator = self._validators.get(key)
        if validator is None:
            # Shared across resolvers (one per run) while the schema object is the document's own, so that
            # repeated runs of a loaded document do not rebuild validators (bench/bench_runner.py).
            shared_key = (id(schema), id(self._components_source))
            hit = _SHARED_VALIDATORS.get(shared_key)
            if hit is not None and hit[0] is schema and hit[1] is self._components_source:
                validator = hit[2]
            else:
                from jsonschema import Draft202012Validator

                # ``#/components/inputs/x`` is resolved against this wrapper's root, which carries the
                # document's components (JSON Schema 2020-12 ignores the unknown ``components`` keyword).
                root = {"allOf": [dict(schema)], "components": {"inputs": self._components}}
                validator = Draft202012Validator(root)
                if len(_SHARED_VALIDATORS) > 512:
                    _SHARED_VALIDATORS.clear()
                _SHARED_VALIDATORS[shared_key] = (schema, self._components_source, validator)
            self._validators[key] = validator
        return validator

    def _check(self, name: str, value: Any) -> None:
        schema = self._properties.get(name)
        if schema is None:
            return
        simple = _simple_type_check(schema, value)
        if simple is not None:  # a bare type schema: decided without the validator (the common case)
            if simple:
                return
        elif self._validator(name, schema).is_valid(value):
            return
        errors = sorted(self._validator(name, schema).iter_errors(value), key=lambda e: list(e.path))
        if errors:
            error = errors[0]
            where = pointer.join(error.absolute_path)
            constraint = error.validator_value
            shown = (
                ""
                if isinstance(constraint, dict | list) and len(str(constraint)) > 80
                else f" {constraint!r}"
            )
            raise InputError(name, f"the value{where} fails the schema keyword '{error.validator}'{shown}")

    def _is_secret(self, name: str) -> bool:
        return name in self._secret_names or name in self._passwords

    def _remember(self, name: str, value: Any, *, secret: bool = False) -> Any:
        if self._masker is not None and (secret or self._is_secret(name)):
            self._masker.add(value)
        self._cache[name] = value
        return value

    # -- API -------------------------------------------------------------------------------------------

    def check_upfront(self) -> None:
        for name, value in self._given.items():
            schema = self._properties.get(name, {})
            coerced = coerce(value, schema)
            self._check(name, coerced)
            self._checked[name] = coerced
        others = self._whole_object
        if others and self._given:  # whole-object keywords, checked over what is given now
            given = {
                name: coerce(value, self._properties.get(name, {})) for name, value in self._given.items()
            }
            for error in self._validator("", {**others, "properties": self._properties}).iter_errors(given):
                raise InputError("", f"the inputs fail the schema keyword '{error.validator}'")
        missing = [name for name in self.required if not self._available(name)]
        if missing:
            raise InputError(
                missing[0] if len(missing) == 1 else "",
                f"required input{'s' if len(missing) > 1 else ''} {', '.join(missing)} not given; pass"
                " --input NAME=VALUE or --inputs FILE, compute it with --compute NAME=…, or run on a terminal"
                " to be asked",
            )

    def _available(self, name: str) -> bool:
        schema = self._properties.get(name, {})
        return (
            name in self._given or name in self._computed or "default" in schema or self._prompt is not None
        )

    def absent(self, name: str) -> bool:
        """An optional input that was neither given nor computed and has no default: it reads as null."""
        return (
            name in self._properties
            and name not in self.required
            and name not in self._given
            and name not in self._computed
            and "default" not in self._properties[name]
        )

    def get(self, name: str, ctx: Any) -> Any:
        if name in self._cache:
            return self._cache[name]
        schema = self._properties.get(name, {})
        if name in self._checked:  # given and already validated by check_upfront
            return self._remember(name, self._checked[name])
        if name in self._given:
            value = coerce(self._given[name], schema)
        elif name in self._computed:
            computation = self._computed[name]
            try:
                value = coerce(computation.evaluate(ctx, self._clock()), schema)
            except InputError as exc:
                raise InputError(name, exc.message) from exc
            self._check(name, value)
            return self._remember(name, value, secret=computation.is_totp)
        elif "default" in schema:
            value = schema["default"]
        elif self._prompt is not None and name in self.required:
            value = coerce(self._prompt(name, schema, ctx), schema)
        elif name in self._properties and name not in self.required:
            return self._remember(name, None)
        else:
            raise InputError(
                name,
                "not given"
                if name in self._properties
                else "not declared in the workflow's inputs and not given",
            )
        self._check(name, value)
        return self._remember(name, value)

    def values(self) -> dict[str, Any]:
        checked = self._checked
        values = {
            name: checked[name] if name in checked else coerce(value, self._properties.get(name, {}))
            for name, value in self._given.items()
        }
        values.update(self._cache)
        return values


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


def _simple_type_check(schema: Mapping[str, Any], value: Any) -> bool | None:
    """Whether ``value`` satisfies a schema made only of ``type`` and annotations (``format`` is an annotation
    in JSON Schema 2020-12 unless a format vocabulary is asserted); None when the schema needs the
    validator."""
    kind = schema.get("type")
    if not isinstance(kind, str) or kind not in _SIMPLE_TYPES or not schema.keys() <= _ANNOTATIONS:
        return None
    return _SIMPLE_TYPES[kind](value)


# -- terminal prompt -----------------------------------------------------------------------------------


class PromptSubject(Protocol):
    """What a terminal prompt needs to know about the input asked for (``engine.options.PromptRequest``
    fits)."""

    @property
    def name(self) -> str: ...

    @property
    def schema(self) -> Mapping[str, Any]: ...


def terminal_prompt(
    preamble: Callable[[Any], None] | None = None,
    *,
    ask: Callable[[str], str] = input,
    ask_secret: Callable[[str], str] | None = None,
) -> Callable[[PromptSubject], str]:
    """A prompt callback for an interactive terminal. ``preamble(subject)`` runs first (the CLI draws the QR
    code a step just returned there); a ``format: password`` input is read without echo (``ask_secret``,
    by default ``getpass.getpass``, imported only then)."""

    def prompt(subject: PromptSubject) -> str:
        if preamble is not None:
            preamble(subject)
        schema = subject.schema
        description = schema.get("description")
        label = (
            f"{subject.name} ({description})"
            if isinstance(description, str) and description
            else subject.name
        )
        reader = ask
        if schema.get("format") == "password":
            if ask_secret is None:
                from getpass import getpass

                reader = getpass
            else:
                reader = ask_secret
        try:
            return reader(f"{label}: ")
        except EOFError as exc:
            raise InputError(subject.name, "no value given (end of input)") from exc

    return prompt
