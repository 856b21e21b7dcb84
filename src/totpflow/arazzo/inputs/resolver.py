"""Workflow inputs resolved lazily: given, computed from earlier results, defaulted or asked for.

Order, on first use of ``$inputs.NAME``: the given value (``--inputs FILE``, ``--input k=v``, or a calling
step's parameters) → the computed value → the schema's ``default`` → the prompt (only when a prompt callback
was given, i.e. stdin is a terminal, and only for *required* inputs) → InputError. A declared optional input
with none of these reads as ``null``. Every value is coerced (strings from the command line or the prompt) and
validated against its property schema (``inputs.schema``). Error messages name the failing keyword, never
the value, since the value may be secret.

Secrets: a ``format: password`` property, a name in ``secret_names`` (``--secret-input``) and every computed
TOTP code are registered with the Masker as soon as their value is known.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from totpflow.arazzo.errors import InputError, UndeclaredInput
from totpflow.arazzo.expressions import pointer
from totpflow.arazzo.inputs.coercion import coerce
from totpflow.arazzo.inputs.computed import Computation
from totpflow.arazzo.inputs.schema import InputsSchema, simple_type_check
from totpflow.arazzo.masking import Masker

Prompt = Callable[[str, Mapping[str, Any], Any], Any]
"""``prompt(name, property_schema, ctx) -> raw value``; the engine adapts its own prompt request to this."""


# JSON Schema 2020-12 §9.4.1: a schema that refers back to itself without applying to a part of the value
# ("infinite recursive nesting") has no defined outcome; such an inputs schema is refused.
CYCLE = "its schema refers to itself in a cycle that never reaches a part of the value (JSON Schema §9.4.1)"


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
        missing_hint: str | None = None,
    ) -> None:
        self._schema = InputsSchema.of(schema, components_inputs)
        self._missing_hint = missing_hint or (
            "pass --input NAME=VALUE or --inputs FILE, compute it with --compute NAME=…, or run on a terminal"
            " to be asked"
        )
        self._given = dict(given)
        self._computed = dict(computed or {})
        self._prompt = prompt
        self._masker = masker
        self._secret_names = frozenset(secret_names)
        self._clock = clock
        self._cache: dict[str, Any] = {}
        self._checked: dict[str, Any] = {}  # given values validated by check_upfront, coerced
        self._properties = self._schema.properties
        self.required: tuple[str, ...] = self._schema.required
        self.declared: tuple[str, ...] = tuple(self._properties)
        if masker is not None:  # secrets given up front are masked from the first recorded byte on
            for name, value in self._given.items():
                for secret in self._secrets_of(name, coerce(value, self._schema.value_types(name))):
                    masker.add(secret)

    def schema_keyword(self, keyword: str) -> Any:
        """A keyword of the whole (dereferenced) inputs schema: ``additionalProperties``,
        ``propertyNames``, ``maxProperties`` or ``dependentRequired``; None when absent."""
        return self._schema.whole.get(keyword)

    def _check(self, name: str, value: Any) -> None:
        schema = self._properties.get(name)
        if schema is None:
            return
        try:
            self._check_against(name, schema, value)
        except RecursionError:
            raise InputError(name, CYCLE) from None

    def _check_against(self, name: str, schema: Mapping[str, Any], value: Any) -> None:
        simple = simple_type_check(schema, value)
        if simple is not None:  # a bare type schema: decided without the validator (the common case)
            if simple:
                return
        elif self._schema.validator(name, schema).is_valid(value):
            return
        for error in self._schema.errors(name, schema, value):
            where = pointer.join(error.absolute_path)
            constraint = error.validator_value
            shown = (
                ""
                if isinstance(constraint, dict | list) and len(str(constraint)) > 80
                else f" {constraint!r}"
            )
            raise InputError(name, f"the value{where} fails the schema keyword '{error.validator}'{shown}")

    def _secrets_of(self, name: str, value: Any) -> list[Any]:
        """What of input ``name``'s ``value`` is secret: all of it for a ``--secret-input``, else the parts
        its schema marks ``format: password``."""
        if name in self._secret_names:
            return [value]
        return self._schema.secret_parts(name, value)

    def _remember(self, name: str, value: Any, *, secret: bool = False) -> Any:
        if self._masker is not None:
            for part in [value] if secret else self._secrets_of(name, value):
                self._masker.add(part)
        self._cache[name] = value
        return value

    # -- API -------------------------------------------------------------------------------------------

    def check_upfront(self) -> None:
        """Before any request: InputError when a given value is not valid against the workflow's ``inputs``
        schema, or a required input is neither given, computed, defaulted nor promptable."""
        for name, value in self._given.items():
            coerced = coerce(value, self._schema.value_types(name))
            self._check(name, coerced)
            self._checked[name] = coerced
        whole = self._schema.whole
        if whole and self._given:  # whole-object keywords, checked over what is given now
            given = {
                name: coerce(value, self._schema.value_types(name)) for name, value in self._given.items()
            }
            try:
                errors = list(self._schema.errors("", {**whole, "properties": self._properties}, given))
            except RecursionError:
                raise InputError("", CYCLE) from None
            for error in errors:
                raise InputError("", f"the inputs fail the schema keyword '{error.validator}'")
        missing = [name for name in self.required if not self._available(name)]
        if missing:
            raise InputError(
                missing[0] if len(missing) == 1 else "",
                f"required input{'s' if len(missing) > 1 else ''} {', '.join(missing)} not given; "
                + self._missing_hint,
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
        """The value of ``$inputs.NAME``, resolved on first use and cached."""
        if name in self._cache:
            return self._cache[name]
        schema = self._properties.get(name, {})
        types = self._schema.value_types(name)
        if name in self._checked:  # given and already validated by check_upfront
            return self._remember(name, self._checked[name])
        if name in self._given:
            value = coerce(self._given[name], types)
        elif name in self._computed:
            computation = self._computed[name]
            try:
                value = coerce(computation.evaluate(ctx, self._clock()), types)
            except InputError as exc:
                raise InputError(name, exc.message) from exc
            self._check(name, value)
            return self._remember(name, value, secret=computation.is_totp)
        elif "default" in schema:
            value = schema["default"]
        elif self._prompt is not None and name in self.required:
            secret = name in self._secret_names or name in self._schema.passwords
            asked = {**schema, "format": "password"} if secret else schema  # read without echo
            value = coerce(self._prompt(name, asked, ctx), types)
        elif name in self._properties and name not in self.required:
            return self._remember(name, None)
        elif name in self._properties:
            raise InputError(name, "not given")
        else:
            raise UndeclaredInput(name, "not declared in the workflow's inputs and not given")
        self._check(name, value)
        return self._remember(name, value)

    def values(self) -> dict[str, Any]:
        """What has been resolved so far (given values included), for reports."""
        checked = self._checked
        values = {
            name: checked[name] if name in checked else coerce(value, self._schema.value_types(name))
            for name, value in self._given.items()
        }
        values.update(self._cache)
        return values
