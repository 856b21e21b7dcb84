"""Computed inputs (``--compute NAME=SPEC``): a runtime expression, or the TOTP code of one, evaluated when
the input is first read.

    --compute totp_code='totp($steps.createTotp.outputs.secret)'
    --compute totp_code='totp($steps.createTotp.outputs.secret, digits=8, period=60, algorithm=SHA256)'
    --compute user='$steps.createUser.outputs.userId'        a runtime expression, or a {$…} template

``totp(EXPR, …)`` evaluates EXPR (a base32 secret, as returned by an authenticator enrollment) and returns the
TOTP code for the current time (RFC 6238 §4: SHA1 by default, 6 digits, 30 s steps, T0 = 0; algorithm one of
SHA1, SHA256, SHA512). This is how an unattended run passes the first code of a TOTP enrollment: the secret
exists only after an earlier step, so the input cannot be given up front. A SPEC is parsed once, when the
option is read (UsageError for a malformed one).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import msgspec

from totpflow.arazzo.errors import InputError, UsageError
from totpflow.arazzo.expressions import compile_value
from totpflow.arazzo.expressions.compile import LiteralValue
from totpflow.arazzo.inputs.totp import TOTP_ALGORITHMS, totp_code

_TOTP_OPTION = re.compile(r"^\s*(digits|period|algorithm)\s*=\s*([A-Za-z0-9]+)\s*$")


class Evaluable(Protocol):
    def evaluate(self, ctx: Any) -> Any: ...


class Computation(msgspec.Struct, frozen=True):
    """A parsed ``--compute`` value; ``evaluate(ctx, now)`` is its value in a step context at Unix time
    ``now``."""

    text: str
    value: Evaluable
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


def parse_computation(text: str, *, compile_text: Callable[[str], Evaluable] = compile_value) -> Computation:
    """UsageError unless ``text`` is ``totp(EXPR, …)`` or evaluates something: a runtime expression or a
    ``{$…}`` template (a fixed value is an ``--input``; inside ``totp()`` a fixed base32 secret is fine)."""
    stripped = text.strip()
    if not (stripped.startswith("totp(") and stripped.endswith(")")):
        if stripped.lower().startswith("totp("):
            raise UsageError(
                f"--compute {stripped!r}: totp( needs its closing ')' (and is written in lower case)"
            )
        value = compile_text(stripped)
        if isinstance(value, LiteralValue):
            raise UsageError(
                f"--compute {stripped!r}: not a runtime expression ($…), a {{$…}} template or totp(EXPR); "
                "a fixed value is given with --input"
            )
        return Computation(text=stripped, value=value)
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
    text: str, *, compile_text: Callable[[str], Evaluable] = compile_value
) -> tuple[str, Computation]:
    """``NAME=SPEC`` → (NAME, Computation)."""
    name, sep, spec = text.partition("=")
    if not sep or not name.strip() or not spec.strip():
        raise UsageError("--compute expects NAME=totp(EXPR) or NAME=EXPR")
    return name.strip(), parse_computation(spec, compile_text=compile_text)


def parse_computations(computed: Mapping[str, str | Computation]) -> dict[str, Computation]:
    """Computations by input name, each SPEC parsed once (a Computation passes through)."""
    return {
        name: spec if isinstance(spec, Computation) else parse_computation(spec)
        for name, spec in computed.items()
    }
