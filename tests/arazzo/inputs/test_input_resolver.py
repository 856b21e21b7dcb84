"""Lazy inputs: given, computed (TOTP per RFC 6238), defaulted or prompted; validated against the schema."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from totpflow.arazzo.errors import EvaluationError, ExpressionError, InputError, UsageError
from totpflow.arazzo.inputs import (
    InputResolver,
    coerce,
    load_inputs_file,
    merge_inputs,
    parse_computation,
    parse_compute_option,
    terminal_prompt,
    totp_code,
)
from totpflow.arazzo.masking import MASK, Masker

HERE = Path(__file__).parent
RFC6238 = json.loads((HERE / "rfc6238_vectors.json").read_text(encoding="utf-8"))
COERCION = yaml.safe_load((HERE / "coercion_cases.yaml").read_text(encoding="utf-8"))
SEED_SECRET = RFC6238["seeds"]["SHA1"]
COMPONENT_INPUTS = {"count": {"type": "integer", "minimum": 1}}  # what coercion_cases.yaml's $refs name

# The seed workflow's inputs (shared/seed/stytch-totp-enrollment.arazzo.yaml).
SEED_SCHEMA = {
    "type": "object",
    "required": ["email", "totp_code"],
    "properties": {
        "email": {"type": "string"},
        "totp_code": {"type": "string"},
        "session_duration_minutes": {"type": "integer"},
    },
}


class StepOutputs:
    """An ``EvaluationContext`` holding only earlier steps' outputs, as after step 2 of the seed."""

    def __init__(self, steps: Mapping[str, Mapping[str, Any]]) -> None:
        self.steps = steps

    def step_output(self, step_id: str, name: str) -> Any:
        try:
            return self.steps[step_id][name]
        except KeyError:
            raise EvaluationError(f"$steps.{step_id}.outputs.{name}", "no such output") from None

    def __getattr__(self, name: str) -> Any:
        raise EvaluationError(name, "not available in this test context")


AFTER_CREATE_TOTP = StepOutputs({"createTotp": {"secret": SEED_SECRET}, "createUser": {"userId": "user-1"}})


@pytest.mark.parametrize(
    "vector", RFC6238["vectors"], ids=[f"{v['algorithm']}-{v['time']}" for v in RFC6238["vectors"]]
)
def test_totp_rfc6238_vectors(vector: dict[str, Any]) -> None:
    secret = RFC6238["seeds"][vector["algorithm"]]
    assert totp_code(secret, vector["time"], digits=8, algorithm=vector["algorithm"]) == vector["totp"]


def test_totp_tolerates_authenticator_formatting() -> None:
    spaced = " ".join(SEED_SECRET.lower()[i : i + 4] for i in range(0, len(SEED_SECRET), 4))
    assert totp_code(spaced, 59) == "287082"


def test_totp_rejects_a_secret_that_is_not_base32() -> None:
    with pytest.raises(InputError, match="not base32"):
        totp_code("not base32!", 59)


@pytest.mark.parametrize(
    ("spec", "now", "expected"),
    [
        ("totp($steps.createTotp.outputs.secret)", 59, "287082"),
        ("totp($steps.createTotp.outputs.secret, digits=8)", 59, "94287082"),
        (
            "totp( $steps.createTotp.outputs.secret , digits=8, period=30, algorithm=sha1 )",
            1111111109,
            "07081804",
        ),
        ("totp($steps.createTotp.outputs.secret, period=60, digits=8)", 119, "94287082"),
        ("$steps.createUser.outputs.userId", 0, "user-1"),
        ("user={$steps.createUser.outputs.userId}", 0, "user=user-1"),
    ],
)
def test_computations(spec: str, now: float, expected: str) -> None:
    assert parse_computation(spec).evaluate(AFTER_CREATE_TOTP, now) == expected


@pytest.mark.parametrize(
    ("option", "error"),
    [
        ("code=totp()", UsageError),
        ("code=totp($steps.s.outputs.x, digits=5)", UsageError),
        ("code=totp($steps.s.outputs.x, algorithm=MD5)", UsageError),
        ("code=", UsageError),
        ("=totp($steps.s.outputs.x)", UsageError),
        ("code=totp($steps..x)", ExpressionError),
        ("code=totp($steps.createTotp.outputs.secret", UsageError),  # not closed: never sent as text
        ("code=TOTP($steps.createTotp.outputs.secret)", UsageError),
        ("user=$nope", UsageError),  # no runtime expression: a fixed value is an --input
        ("user=plain text", UsageError),
    ],
)
def test_compute_option_errors(option: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        parse_compute_option(option)


def _seed_resolver(**kwargs: Any) -> InputResolver:
    defaults: dict[str, Any] = {"schema": SEED_SCHEMA, "given": {"email": "a@example.com"}}
    defaults.update(kwargs)
    return InputResolver(**defaults)


def test_the_seed_runs_unattended_with_a_computed_code() -> None:
    masker = Masker()
    name, computation = parse_compute_option("totp_code=totp($steps.createTotp.outputs.secret)")
    resolver = _seed_resolver(computed={name: computation}, masker=masker, clock=lambda: 59.0)
    resolver.check_upfront()
    assert resolver.get("email", AFTER_CREATE_TOTP) == "a@example.com"
    assert resolver.get("totp_code", AFTER_CREATE_TOTP) == "287082"
    assert resolver.get("session_duration_minutes", AFTER_CREATE_TOTP) is None
    assert masker.mask_text('{"totp_code":"287082"}') == f'{{"totp_code":"{MASK}"}}'  # a code is a secret
    assert resolver.values() == {
        "email": "a@example.com",
        "totp_code": "287082",
        "session_duration_minutes": None,
    }


def test_a_missing_required_input_fails_before_any_request() -> None:
    with pytest.raises(InputError, match="totp_code") as info:
        _seed_resolver().check_upfront()
    assert "--compute" in str(info.value)


def test_several_missing_inputs_are_named_together() -> None:
    with pytest.raises(InputError, match="email, totp_code"):
        _seed_resolver(given={}).check_upfront()


def test_a_prompt_makes_required_inputs_available_and_asks_once() -> None:
    asked: list[str] = []

    def prompt(name: str, schema: Mapping[str, Any], ctx: Any) -> str:
        asked.append(name)
        return "123456"

    resolver = _seed_resolver(prompt=prompt)
    resolver.check_upfront()
    assert asked == []  # nothing is asked before it is needed
    assert resolver.get("totp_code", AFTER_CREATE_TOTP) == "123456"
    assert resolver.get("totp_code", AFTER_CREATE_TOTP) == "123456"
    assert resolver.get("session_duration_minutes", AFTER_CREATE_TOTP) is None  # optional: never asked
    assert asked == ["totp_code"]


def test_a_prompted_value_is_coerced_and_validated() -> None:
    schema = {"type": "object", "required": ["n"], "properties": {"n": {"type": "integer", "minimum": 1}}}
    answers = iter(["7", "0"])
    resolver = InputResolver(schema, {}, prompt=lambda name, s, ctx: next(answers))
    assert resolver.get("n", AFTER_CREATE_TOTP) == 7
    with pytest.raises(InputError, match="'minimum'"):
        InputResolver(schema, {}, prompt=lambda name, s, ctx: next(answers)).get("n", AFTER_CREATE_TOTP)


def test_defaults_apply_when_nothing_is_given() -> None:
    schema = {"type": "object", "required": ["n"], "properties": {"n": {"type": "integer", "default": 30}}}
    resolver = InputResolver(schema, {})
    resolver.check_upfront()
    assert resolver.get("n", AFTER_CREATE_TOTP) == 30


def test_an_undeclared_input_that_is_not_given_is_an_error() -> None:
    with pytest.raises(InputError, match="not declared"):
        _seed_resolver().get("nope", AFTER_CREATE_TOTP)


def test_given_values_are_validated_up_front_without_showing_them() -> None:
    resolver = _seed_resolver(
        given={"email": "a@example.com", "totp_code": "1", "session_duration_minutes": "x9"}
    )
    with pytest.raises(InputError, match="session_duration_minutes") as info:
        resolver.check_upfront()
    assert "x9" not in str(info.value)


@pytest.mark.parametrize(
    ("value", "passes"),
    [
        ("123456", True),
        ("123456\n", False),  # ECMA-262 '$' is the end of the text, not before a final line break as in re
        ("12345", False),
    ],
)
def test_a_schema_pattern_is_an_ecma_262_regular_expression(value: str, passes: bool) -> None:
    schema = {"type": "object", "properties": {"code": {"type": "string", "pattern": "^\\d{6}$"}}}
    resolver = InputResolver(schema, {"code": value})
    if passes:
        resolver.check_upfront()
    else:
        with pytest.raises(InputError, match="'pattern'"):
            resolver.check_upfront()


def test_a_schema_pattern_that_backtracks_catastrophically_stops_at_the_bound(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from totpflow.arazzo.expressions import regex_guard

    monkeypatch.setattr(regex_guard, "MATCH_TIMEOUT_SECONDS", 0.5)
    schema = {"type": "object", "properties": {"s": {"type": "string", "pattern": "^(a+)+$"}}}
    with pytest.raises(InputError, match="'pattern'"):
        InputResolver(schema, {"s": "a" * 40 + "!"}).check_upfront()


def test_additional_properties_are_checked_over_the_given_object() -> None:
    schema = {"type": "object", "additionalProperties": False, "properties": {"a": {"type": "string"}}}
    with pytest.raises(InputError, match="additionalProperties"):
        InputResolver(schema, {"a": "1", "b": "2"}).check_upfront()


COMPONENTS = {
    "credentials": {
        "type": "object",
        "required": ["username", "password"],
        "properties": {
            "username": {"type": "string"},
            "password": {"type": "string", "format": "password", "minLength": 8},
        },
    },
    "code": {"type": "string", "pattern": "^[0-9]{6}$"},
}


def test_refs_into_components_inputs_are_followed() -> None:
    schema = {
        "$ref": "#/components/inputs/credentials",
        "properties": {"code": {"$ref": "#/components/inputs/code"}},
    }
    masker = Masker()
    resolver = InputResolver(
        schema, {"username": "al", "password": "hunter22!"}, None, None, COMPONENTS, masker=masker
    )
    assert resolver.required == ("username", "password")
    resolver.check_upfront()
    assert masker.mask_text("pw hunter22!") == f"pw {MASK}"  # format: password is a secret
    with pytest.raises(InputError, match="'minLength'"):
        InputResolver(schema, {"username": "al", "password": "short"}, None, None, COMPONENTS).check_upfront()
    bad_code = InputResolver(
        schema, {"username": "a", "password": "12345678", "code": "12a"}, None, None, COMPONENTS
    )
    with pytest.raises(InputError, match="'pattern'"):
        bad_code.check_upfront()


def test_an_unknown_component_reference_is_reported() -> None:
    with pytest.raises(InputError, match="#/components/inputs/missing"):
        InputResolver({"$ref": "#/components/inputs/missing"}, {}, None, None, COMPONENTS)


ANCHORED = {
    "login": {
        "$anchor": "login",
        "type": "object",
        "required": ["username", "code"],
        "properties": {"username": {"type": "string"}, "code": {"$ref": "#six-digits"}},
    },
    "code": {"$anchor": "six-digits", "type": "string", "pattern": "^[0-9]{6}$"},
    "a/b": {"type": "object", "properties": {"slashed": {"type": "integer"}}},
}


def test_refs_to_anchors_are_followed() -> None:
    resolver = InputResolver({"$ref": "#login"}, {"username": "al", "code": "123456"}, None, None, ANCHORED)
    assert resolver.declared == ("username", "code") and resolver.required == ("username", "code")
    resolver.check_upfront()
    with pytest.raises(InputError, match="'pattern'"):
        InputResolver(
            {"$ref": "#login"}, {"username": "al", "code": "12a"}, None, None, ANCHORED
        ).check_upfront()


def test_anchors_in_the_workflow_schema_itself_are_followed() -> None:
    schema = {
        "type": "object",
        "properties": {
            "first": {"$anchor": "short", "type": "string", "maxLength": 3},
            "second": {"$ref": "#short"},
        },
    }
    with pytest.raises(InputError, match="'maxLength'"):
        InputResolver(schema, {"second": "toolong"}).check_upfront()


def test_escaped_pointers_into_components_are_followed() -> None:
    resolver = InputResolver({"$ref": "#/components/inputs/a~1b"}, {"slashed": "7"}, None, None, ANCHORED)
    resolver.check_upfront()
    assert resolver.get("slashed", None) == 7


@pytest.mark.parametrize(
    "ref", ["#no-such-anchor", "#/components/inputs/missing", "other.arazzo.yaml#/components/inputs/login"]
)
def test_a_reference_that_does_not_resolve_is_reported(ref: str) -> None:
    with pytest.raises(InputError, match=ref):
        InputResolver({"$ref": ref}, {}, None, None, ANCHORED)


def test_a_reference_cycle_ends() -> None:
    cyclic = {"a": {"$ref": "#/components/inputs/b"}, "b": {"$ref": "#/components/inputs/a"}}
    resolver = InputResolver({"$ref": "#/components/inputs/a"}, {}, None, None, cyclic)
    assert resolver.declared == ()


def test_a_value_checked_through_a_cycle_that_reaches_no_part_of_it_is_refused() -> None:
    """JSON Schema 2020-12 §9.4.1 gives such a schema no outcome: an InputError naming the input, not the
    validator's RecursionError."""
    cyclic = {
        "a": {"allOf": [{"$ref": "#/components/inputs/b"}]},
        "b": {"anyOf": [{"$ref": "#/components/inputs/a"}]},
    }
    schema = {"type": "object", "properties": {"pw": {"$ref": "#/components/inputs/a"}}}
    with pytest.raises(InputError, match="cycle") as raised:
        InputResolver(schema, {"pw": "x"}, None, None, cyclic).check_upfront()
    assert raised.value.name == "pw"


def test_totp_accepts_80_bit_secrets() -> None:
    """Authenticator apps accept the 16-character (80-bit) secrets many services issue."""
    # base32 of the 10-byte key "1234567890"; HMAC-SHA1 over the counter 1 (t = 59 s), RFC 4226 §5.3
    assert totp_code("GEZDGNBVGY3TQOJQ", 59) == "263420"


def test_pointer_refs_do_not_import_referencing() -> None:
    """Start-up: a plain pointer into components is followed without importing ``referencing`` (and attrs);
    an anchor needs it."""
    code = (
        "import sys\n"
        "from totpflow.arazzo.inputs import InputResolver\n"
        "components = {'c': {'$anchor': 'c', 'type': 'object', 'properties': {'x': {'type': 'string'}}}}\n"
        "ref = {'$ref': '#/components/inputs/c'}\n"
        "InputResolver(ref, {'x': 'a'}, None, None, components).check_upfront()\n"
        "print('referencing' in sys.modules)\n"
        "InputResolver({'$ref': '#c'}, {'x': 'a'}, None, None, components).check_upfront()\n"
        "print('referencing' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "True"]


def test_secret_input_names_are_masked() -> None:
    masker = Masker()
    resolver = _seed_resolver(
        given={"email": "a@example.com", "totp_code": "654321"}, masker=masker, secret_names={"totp_code"}
    )
    resolver.check_upfront()
    assert masker.mask_text("654321") == MASK


@pytest.mark.parametrize("case", COERCION, ids=[f"{c['schema']}-{c['given'][:24]}" for c in COERCION])
def test_coercion_and_validation(case: dict[str, Any]) -> None:
    schema = {"type": "object", "properties": {"x": case["schema"]}}
    resolver = InputResolver(schema, {"x": case["given"]}, components_inputs=COMPONENT_INPUTS)
    if "error" in case:
        with pytest.raises(InputError, match=case["error"]) as info:
            resolver.check_upfront()
        assert repr(case["given"]) not in str(info.value)
    else:
        resolver.check_upfront()
        value = resolver.get("x", AFTER_CREATE_TOTP)
        assert value == case["value"] and type(value) is type(case["value"])


def test_coerce_leaves_typed_values_alone() -> None:
    assert coerce(5, {"type": "string"}) == 5
    assert coerce(["a"], {"type": "array"}) == ["a"]


def test_an_input_json_object_too_long_or_too_deep_is_a_usage_error() -> None:
    for option in ('{"n": ' + "1" * 5000 + "}", '{"a": ' + "[" * 5000 + "]" * 5000 + "}"):
        with pytest.raises(UsageError, match="JSON object"):
            merge_inputs([], [option])


def test_inputs_files_and_options_merge_later_wins(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text('{"email": "a@example.com", "n": 1}', encoding="utf-8")
    (tmp_path / "b.yaml").write_text("n: 2\nlist: [1, 2]\n", encoding="utf-8")
    merged = merge_inputs(
        [tmp_path / "a.json", tmp_path / "b.yaml"], ["email=b@example.com", '{"n": 3}', "eq=a=b"]
    )
    assert merged == {"email": "b@example.com", "n": 3, "list": [1, 2], "eq": "a=b"}


@pytest.mark.parametrize(
    ("content", "suffix", "message"),
    [
        ("[1, 2]", ".json", "top level must be an object"),
        ("{", ".json", "not valid"),
        ("a: [", ".yaml", "not valid"),
        (
            "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
            + "".join(
                f"{n}: &{n} [{', '.join([f'*{p}'] * 10)}]\n" for p, n in zip("abcdef", "bcdefg", strict=True)
            ),
            ".yaml",
            "aliases expand",
        ),
        ("a: &a {b: *a}", ".yaml", "contains it"),
        ("n: " + "1" * 5000, ".yaml", "integer longer than"),
        ('{"n": ' + "1" * 5000 + "}", ".json", "integer too long"),
        ('{"a": ' + "[" * 5000 + "]" * 5000 + "}", ".json", "nested too deeply"),
        (b"\xff\xfe".decode("latin-1"), ".yaml", "not UTF-8"),
    ],
)
def test_bad_inputs_files(tmp_path: Path, content: str, suffix: str, message: str) -> None:
    path = tmp_path / f"inputs{suffix}"
    path.write_text(content, encoding="latin-1" if message == "not UTF-8" else "utf-8")
    with pytest.raises(UsageError, match=message):
        load_inputs_file(path)
    with pytest.raises(UsageError, match="cannot read"):
        load_inputs_file(tmp_path / "missing.json")


def test_an_inputs_file_that_never_ends_is_refused_at_its_size_limit() -> None:
    with pytest.raises(UsageError, match="larger than"):
        load_inputs_file("/dev/zero")


class Subject:
    def __init__(self, name: str, schema: Mapping[str, Any]) -> None:
        self.name = name
        self.schema = schema


def test_terminal_prompt_draws_the_preamble_then_asks() -> None:
    events: list[str] = []

    def preamble(subject: Subject) -> None:
        events.append(f"preamble {subject.name}")

    def ask(label: str) -> str:
        events.append(f"ask {label}")
        return "123456"

    def ask_secret(label: str) -> str:
        events.append(f"secret {label}")
        return "pw"

    prompt = terminal_prompt(preamble, ask=ask, ask_secret=ask_secret)
    assert prompt(Subject("totp_code", {"type": "string", "description": "first code"})) == "123456"
    assert prompt(Subject("password", {"type": "string", "format": "password"})) == "pw"
    assert events == [
        "preamble totp_code",
        "ask totp_code (first code): ",
        "preamble password",
        "secret password: ",
    ]


def test_terminal_prompt_shows_a_description_s_controls_as_escapes() -> None:
    labels: list[str] = []
    prompt = terminal_prompt(ask=lambda label: labels.append(label) or "x")
    prompt(Subject("code", {"type": "string", "description": "the code\x1b[2J\x1b]0;pwned\x07\u202e\nnext"}))
    assert labels == ["code (the code\\x1b[2J\\x1b]0;pwned\\x07\\u202e\\nnext): "]


def test_terminal_prompt_end_of_input_is_an_input_error() -> None:
    def closed(label: str) -> str:
        raise EOFError

    with pytest.raises(InputError, match="end of input"):
        terminal_prompt(ask=closed)(Subject("x", {}))


PASSWORDS = yaml.safe_load((HERE / "password_cases.yaml").read_text(encoding="utf-8"))


@pytest.mark.parametrize("case", PASSWORDS, ids=[case["name"] for case in PASSWORDS])
def test_every_value_a_schema_marks_as_a_password_is_masked(case: dict[str, Any]) -> None:
    """Wherever ``format: password`` marks a value: at the top, inside an object or an array, through
    ``$ref`` and the combinators; given up front or read from a default."""
    masker = Masker()
    resolver = InputResolver(
        case["schema"], case.get("given", {}), None, None, case.get("components"), masker=masker
    )
    if case.get("check", True):
        resolver.check_upfront()
    if "read" in case:
        resolver.get(case["read"], AFTER_CREATE_TOTP)
    for value in case.get("masked", ()):
        assert masker.mask_text(f"[{value}]") == f"[{MASK}]", value
    for value in case.get("shown", ()):
        assert masker.mask_text(f"[{value}]") == f"[{value}]", value


def test_a_schema_that_reaches_a_component_by_many_paths_is_looked_at_once() -> None:
    """Forty levels of components, each naming the next twice (2^40 paths): whether a password is marked is
    decided by looking at each schema once, so the analysis ends (it did not, walking every path)."""
    components = {
        f"d{i}": {
            "type": "object",
            "properties": {k: {"$ref": f"#/components/inputs/d{i + 1}"} for k in "ab"},
        }
        for i in range(40)
    }
    components["d40"] = {"type": "string", "format": "password"}
    schema = {
        "type": "object",
        "properties": {"x": {"$ref": "#/components/inputs/d0"}, "y": {"type": "string"}},
    }
    resolver = InputResolver(schema, {}, None, None, components)
    assert resolver.declared == ("x", "y")
    masker = Masker()
    deep: Any = "MANYPATHSpw-1"
    for _ in range(40):
        deep = {"a": deep}
    InputResolver(schema, {"x": deep, "y": "plain-y-value"}, None, None, components, masker=masker)
    assert masker.mask_text("[MANYPATHSpw-1] [plain-y-value]") == f"[{MASK}] [plain-y-value]"


@pytest.mark.parametrize(
    "marked",
    [
        {"anyOf": [{"type": "string", "format": "password"}, {"type": "null"}]},
        {"allOf": [{"type": "string"}, {"format": "password"}]},
        {"type": "object", "properties": {"pin": {"type": "string", "format": "password"}}},
    ],
    ids=["nullable", "all-of", "nested"],
)
def test_an_input_its_schema_marks_as_a_password_anywhere_is_asked_as_one(marked: dict[str, Any]) -> None:
    """The prompt reads it without echo (``terminal_prompt`` hides a ``format: password`` schema)."""
    asked: list[Mapping[str, Any]] = []

    def prompt(name: str, schema: Mapping[str, Any], ctx: Any) -> str:
        asked.append(schema)
        return "asked-pw-1234" if "properties" not in schema else '{"pin": "asked-pw-1234"}'

    schema = {"type": "object", "required": ["pw"], "properties": {"pw": marked}}
    masker = Masker()
    InputResolver(schema, {}, None, prompt, None, masker=masker).get("pw", AFTER_CREATE_TOTP)
    assert [s.get("format") for s in asked] == ["password"]
    assert masker.mask_text("asked-pw-1234") == MASK
