"""Rewrite an Arazzo 1.0.x document as 1.1.0 (``totpflow upgrade``), keeping comments, key order and quoting
where YAML allows (``ruamel.yaml`` round trip; imported only here, never by a run).

What changes (Arazzo 1.1.0 changed no default, so nothing is pinned):

- ``arazzo`` becomes ``1.1.0``;
- expressions in forms the strict 1.1 grammar does not derive are written in the spec form: dot or index
  access after a body, payload or value (``$response.body.a.b`` → ``$response.body#/a/b``,
  ``$steps.s.outputs.list[0].id`` → ``$steps.s.outputs.list#/0/id``) and dot access into a declared output
  or input (``$steps.s.outputs.user.id`` → ``$steps.s.outputs.user#/id``, ``$inputs.user.id`` →
  ``$inputs.user#/id``; not when the dotted name itself is declared, which 1.1 allows), whole, embedded in
  ``{…}`` or inside a ``simple`` condition;
- the non-spec ``operationPath`` form ``<source>#/paths/…`` becomes
  ``{$sourceDescriptions.<source>.url}#/paths/…``;
- a ``simple`` condition that is a lone value (``$response.body#/verified``, not a comparison or a logical
  operator) gets ``!!`` in front: 1.1.0 passes such a condition only when it is ``true``, where 1.0 documents
  pass any truthy value, and ``!!`` converts by the same truthiness, so the upgraded document decides alike;
- a criterion with ``type: simple`` and no ``context`` loses the ``type`` (``simple`` is the default; the 1.1
  schema requires a ``context`` whenever ``type`` is given), and the flattened ``version`` of a criterion
  moves into an Expression Type Object (``type: {type, version}``).

What cannot be converted is listed, each with its location: objects shaped like a Selector Object in a
parameter value or payload (a literal in 1.0, a Selector in 1.1), every problem the result still has as a
1.1 document (it is validated before it is returned), and every ``$steps.<id>`` reference that a run may
reach before step ``<id>`` has completed (a ``goto`` passes over it, or it failed and a failure action went
on): in 1.1 the reference makes the reading step depend on ``<id>``, so that step then fails before sending
where the 1.0 document ran it, and 1.1 has no way to read a step's outputs without the dependency.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable, Iterator
from typing import Any

import msgspec

from totpflow.arazzo.document.versions import document_root, is_selector, minor_version, selectors_in
from totpflow.arazzo.errors import ArazzoError, DocumentError, DocumentInvalid, ExpressionError, LoadError
from totpflow.arazzo.expressions import pointer

TARGET = "1.1.0"
_EMBEDDED = re.compile(r"\{(\$[^{}]*)\}")


class Upgraded(msgspec.Struct, frozen=True):
    """The rewritten text, what was changed (``<location>: <what>``) and what was not converted."""

    text: str
    changes: tuple[str, ...]
    not_converted: tuple[DocumentError, ...]


def upgrade_text(text: str, url: str) -> Upgraded:
    """Rewrite the 1.0.x document ``text`` (YAML or JSON, loaded from ``url``) as 1.1.0.

    ``LoadError`` when it cannot be parsed or does not declare a 1.0.x version."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096  # never fold a long line that was not folded
    yaml.indent(**_indentation(text))
    try:
        data = yaml.load(text)
    except MarkedYAMLError as exc:  # as the document reader words it: where, then what
        mark = exc.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        raise LoadError("", f"{url}: {where}invalid YAML: {exc.problem}") from None
    except YAMLError as exc:
        raise LoadError("", f"{url}: invalid YAML: {exc}") from None
    data = document_root(data)
    minor = minor_version(data)
    if minor != "1.0":
        raise LoadError("/arazzo", f"the document already declares arazzo {data.get('arazzo')}")
    try:
        rewriter = _Rewriter(data)
        rewriter.run()
    except (TypeError, AttributeError, KeyError, IndexError):
        # the rewrite walks the document's structure: a value of the wrong type (``outputs: 5``) stops it,
        # and the 1.0 schema says where (a 1.0 document that uses 1.1 features is converted, not refused)
        from totpflow.arazzo.document.schema import schema_problems

        problems = schema_problems(document_root(yaml.load(text)), "1.0")  # as written, not half rewritten
        if not problems:
            raise
        raise DocumentInvalid(problems) from None
    if _is_json(text):  # JSON stays JSON; YAML, flow style included, stays YAML with its comments
        output = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    else:
        buffer = io.StringIO()
        yaml.dump(data, buffer)
        output = buffer.getvalue()
    written = _read_back(output)
    problems = [
        *rewriter.not_converted,
        *_problems_as_1_1(written, url),
        *_dependencies_1_0_lacked(written, url),
    ]
    return Upgraded(output, tuple(rewriter.changes), tuple(problems))


def _indentation(text: str) -> dict[str, int]:
    """The block indentation ``text`` uses, for ruamel to write it back the same way: whether a list under a
    key is indented (``key:\n  - item``) or not (``key:\n- item``), and by how much a nested mapping is."""
    mapping = 2
    nested = re.search(r"^( *)[^\s#-][^\n]*:\n( +)[^\s#-]", text, re.M)
    if nested and len(nested.group(2)) > len(nested.group(1)):
        mapping = len(nested.group(2)) - len(nested.group(1))
    listed = re.search(r"^( *)[^\s#-][^\n]*:\n( *)- ", text, re.M)
    offset = len(listed.group(2)) - len(listed.group(1)) if listed else 0
    offset = max(offset, 0)
    return {"mapping": mapping, "sequence": mapping + offset, "offset": offset}


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def _read_back(text: str) -> Any:
    """The rewritten document as any document is read (PyYAML, not the round trip)."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return yaml.load(text, Loader=loader)


def _problems_as_1_1(data: Any, url: str) -> list[DocumentError]:
    """Every problem of the rewritten document ``data``, read back as any document is; when it has none, what
    the official 1.1 schema refuses that this runner accepts (``document/schema.py`` widens a few value types,
    as the spec's text gives them), since other tools check with that schema."""
    from totpflow.arazzo.document.loader import document_from_data
    from totpflow.arazzo.document.schema import official_schema_problems

    try:
        document_from_data(data, url)
    except DocumentInvalid as exc:
        return list(exc.problems)
    except DocumentError as exc:
        return [exc]
    except ArazzoError as exc:
        return [DocumentError("", str(exc))]
    # One line per place: the schema may refuse one value for several reasons (an object parameter value is
    # both missing a Selector Object's fields and carrying unknown ones).
    by_location: dict[str, list[str]] = {}
    for problem in official_schema_problems(data, "1.1"):
        by_location.setdefault(problem.location, []).append(problem.message)
    return [
        DocumentError(location, f"{'; '.join(messages)} (the official 1.1 schema; totpflow accepts it)")
        for location, messages in by_location.items()
    ]


def _dependencies_1_0_lacked(data: Any, url: str) -> list[DocumentError]:
    """Each ``$steps.<id>`` reference that makes its step depend on step ``<id>`` in 1.1 (1.0 has no step
    dependencies) where a run may reach the step before ``<id>`` has completed: the 1.1 document then fails
    the step before it sends anything, where the 1.0 one ran it (``engine/reachability.py``). 1.1 has no
    expression that reads a step's outputs without the dependency, so each is left to fix by hand. Nothing
    when the document's structure is broken (that is listed already)."""
    from totpflow.arazzo.document.builder import build_document
    from totpflow.arazzo.document.versions import structural_problems
    from totpflow.arazzo.engine.reachability import unmet_dependencies

    data = document_root(data)
    if structural_problems(data, minor_version(data))[0]:
        return []
    try:
        unmet = unmet_dependencies(build_document(data, url))
    except ArazzoError:
        return []
    problems = []
    for item in unmet:
        step, read = item.step.step_id, item.read
        if item.passed_over:
            order = [s.step_id for s in item.workflow.steps]
            how = (
                f"step {read!r} comes later, so it has not run when step {step!r} first starts"
                if order.index(read) > order.index(step)
                else f"an action can pass over step {read!r} before step {step!r} starts"
            )
        else:
            names = ", ".join(repr(name) for name in item.going_on)
            how = f"step {read!r} can fail and the run go on to step {step!r}" + (
                f" (its failure action{'s' if len(item.going_on) > 1 else ''} {names})" if names else ""
            )
        problems.append(
            DocumentError(
                _written_at(data, item.step.location, read),
                f"step {step!r} reads $steps.{read}, and {how}: in 1.1 this makes step {step!r} depend on "
                f'step {read!r}, so it then fails before sending ("has not completed in this run", no '
                "failure action applies) where the 1.0 document ran it, reading nothing there; 1.1 "
                "cannot read a step's outputs without that dependency, so rework the flow by hand",
            )
        )
    return problems


def _written_at(data: Any, location: str, read: str) -> str:
    """Where under the step at ``location`` the first ``$steps.<read>`` is written; the step itself when it
    is not (it comes from the workflow's parameters or actions, or a component)."""
    written = re.compile(r"\$steps\." + re.escape(read) + r"(?![A-Za-z0-9_-])")
    node = data
    for token in pointer.split(location):
        node = node[int(token)] if isinstance(node, list) else node[token]

    def find(value: Any, at: str) -> str | None:
        if isinstance(value, str):
            return at if written.search(value) else None
        items = (
            value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
        )
        for key, item in items:
            hit = find(item, at + pointer.join([str(key)]))
            if hit is not None:
                return hit
        return None

    return find(node, location) or location


class _Rewriter:
    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data
        self.changes: list[str] = []
        self.not_converted: list[DocumentError] = []
        self.sources = {
            source.get("name") for source in data.get("sourceDescriptions") or () if isinstance(source, dict)
        }
        self.workflow_outputs = {
            workflow.get("workflowId"): set(workflow.get("outputs") or ())
            for workflow in data.get("workflows") or ()
            if isinstance(workflow, dict)
        }
        self.workflow_inputs = {
            workflow.get("workflowId"): _declared_inputs(workflow, data.get("components"))
            for workflow in data.get("workflows") or ()
            if isinstance(workflow, dict)
        }
        # The inputs of the workflow being rewritten (None in components, used by any workflow).
        self.inputs: set[str] | None = None
        # The outputs ``$outputs`` names where the rewrite is: a workflowId step's called workflow's, the
        # workflow's own in its outputs; None where they are not known.
        self.outputs: set[str] | None = None

    def run(self) -> None:
        self.data["arazzo"] = TARGET
        self.changes.append(f"/arazzo: {TARGET}")
        components = self.data.get("components")
        if isinstance(components, dict):
            for kind in ("parameters", "successActions", "failureActions"):
                table = components.get(kind)
                for name, item in table.items() if isinstance(table, dict) else ():
                    self._object(item, f"/components/{kind}" + pointer.join([name]), {})
        for index, workflow in _items(self.data.get("workflows")):
            at = f"/workflows/{index}"
            self.inputs = self.workflow_inputs.get(workflow.get("workflowId"))
            steps = {
                step.get("stepId"): set(step.get("outputs") or ())
                for _, step in _items(workflow.get("steps"))
            }
            for key in ("parameters", "successActions", "failureActions", "outputs"):
                if key in workflow:
                    own = key == "outputs"
                    self.outputs = self.workflow_outputs.get(workflow.get("workflowId")) if own else None
                    self._object(workflow[key], f"{at}/{key}", steps, container=workflow, key=key)
            for s_index, step in _items(workflow.get("steps")):
                self._step(step, f"{at}/steps/{s_index}", steps)

    def _step(self, step: dict[str, Any], at: str, steps: dict[Any, set[str]]) -> None:
        called = step.get("workflowId")
        self.outputs = self.workflow_outputs.get(called) if isinstance(called, str) else None
        path = step.get("operationPath")
        if isinstance(path, str):
            head, hash_, fragment = path.partition("#")
            if hash_ and head in self.sources and not head.startswith("{"):
                step["operationPath"] = f"{{$sourceDescriptions.{head}.url}}#{fragment}"
                self.changes.append(f"{at}/operationPath: the spec form {step['operationPath']!r}")
        for index, parameter in _items(step.get("parameters")):
            if is_selector(parameter.get("value")):
                self._literal_selector(f"{at}/parameters/{index}/value")
        body = step.get("requestBody")
        if isinstance(body, dict):
            for location in selectors_in(body.get("payload"), f"{at}/requestBody/payload"):
                self._literal_selector(location)
        for key in ("parameters", "requestBody", "successCriteria", "onSuccess", "onFailure", "outputs"):
            if key in step:
                self._object(step[key], f"{at}/{key}", steps, container=step, key=key)

    def _literal_selector(self, location: str) -> None:
        self.not_converted.append(
            DocumentError(
                location,
                "this object is a literal in 1.0 but would be read as a Selector Object in 1.1; "
                "rewrite it by hand (e.g. build it from its fields)",
            )
        )

    # -- generic walk ----------------------------------------------------------------------------------------

    def _object(
        self,
        value: Any,
        at: str,
        steps: dict[Any, set[str]],
        *,
        container: Any = None,
        key: Any = None,
    ) -> None:
        """Rewrite every expression string under ``value`` (``container[key]``), and every criterion."""
        if isinstance(value, dict):
            if "condition" in value:
                self._criterion(value, at, steps)
                return
            for name in list(value):
                self._object(value[name], at + pointer.join([name]), steps, container=value, key=name)
        elif isinstance(value, list):
            for index in range(len(value)):
                self._object(value[index], f"{at}/{index}", steps, container=value, key=index)
        elif isinstance(value, str) and "$" in value and container is not None:
            rewritten = self._value(value, steps)
            if rewritten != value:
                container[key] = _like(value, rewritten)
                self.changes.append(f"{at}: {rewritten!r}")

    def _criterion(self, criterion: dict[str, Any], at: str, steps: dict[Any, set[str]]) -> None:
        kind = criterion.get("type")
        if kind == "simple" and "context" not in criterion:
            del criterion["type"]
            self.changes.append(
                f"{at}/type: removed ('simple' is the default; 1.1 wants a context with a type)"
            )
            kind = None
        if "version" in criterion and isinstance(kind, str):
            criterion["type"] = {"type": kind, "version": criterion["version"]}
            del criterion["version"]
            self.changes.append(f"{at}/type: an Expression Type Object with the criterion's version")
        context = criterion.get("context")
        if isinstance(context, str):
            rewritten = self._value(context, steps)
            if rewritten != context:
                criterion["context"] = _like(context, rewritten)
                self.changes.append(f"{at}/context: {rewritten!r}")
        condition = criterion.get("condition")
        name = kind.get("type") if isinstance(kind, dict) else kind
        if isinstance(condition, str) and name in (None, "simple"):
            rewritten = self._condition(condition, steps)
            if _lone_value(rewritten):
                rewritten = "!!" + rewritten
            if rewritten != condition:
                criterion["condition"] = _like(condition, rewritten)
                self.changes.append(f"{at}/condition: {rewritten!r}")

    # -- expressions -----------------------------------------------------------------------------------------

    def _value(self, text: str, steps: dict[Any, set[str]]) -> str:
        from totpflow.arazzo.expressions import is_expression, parse

        try:
            if is_expression(text):
                return self._expression(parse(text), steps) or text
            return _EMBEDDED.sub(lambda match: self._embedded(match, steps), text)
        except ExpressionError:
            return text  # reported by the validation of the result

    def _embedded(self, match: re.Match[str], steps: dict[Any, set[str]]) -> str:
        from totpflow.arazzo.expressions import parse

        try:
            rewritten = self._expression(parse(match.group(1)), steps)
        except ExpressionError:
            return match.group(0)
        return "{" + rewritten + "}" if rewritten else match.group(0)

    def _condition(self, text: str, steps: dict[Any, set[str]]) -> str:
        """``text`` with each expression operand rewritten where it is written (a string literal that holds
        the same characters is left as it is)."""
        from totpflow.arazzo.expressions import parse_condition
        from totpflow.arazzo.expressions.lexer import tokenize_condition

        try:
            condition = parse_condition(text)
            tokens = [token for token in tokenize_condition(text) if token.kind == "EXPR"]
        except ExpressionError:
            return text
        unused = list(condition.expressions)
        spans: list[tuple[int, int, str]] = []
        for token in tokens:
            expression = next((e for e in unused if e.text == token.text), None)
            if expression is None:
                continue
            unused.remove(expression)
            rewritten = self._expression(expression, steps)
            if rewritten:
                spans.append((token.pos, token.end, rewritten))
        for start, end, rewritten in sorted(spans, reverse=True):
            text = text[:start] + rewritten + text[end:]
        return text

    def _expression(self, expression: Any, steps: dict[Any, set[str]]) -> str | None:
        """The spec form of ``expression``, or None when it is already written so."""
        from totpflow.arazzo.expressions import nodes

        node = expression.node
        if isinstance(node, nodes.Steps):
            return _named(
                f"$steps.{node.step}.outputs", node.output, node.pointer, steps.get(node.step), expression
            )
        if isinstance(node, nodes.Workflows) and node.kind == "outputs":
            declared = self.workflow_outputs.get(node.workflow)
            return _named(
                f"$workflows.{node.workflow}.outputs", node.name, node.pointer, declared, expression
            )
        if isinstance(node, nodes.Workflows) and node.kind == "inputs":
            declared = self.workflow_inputs.get(node.workflow)
            return _named(f"$workflows.{node.workflow}.inputs", node.name, node.pointer, declared, expression)
        if isinstance(node, nodes.Inputs):
            return _named("$inputs", node.name, node.pointer, self.inputs, expression)
        if isinstance(node, nodes.Outputs):
            return _named("$outputs", node.name, node.pointer, self.outputs, expression)
        if not expression.warnings:
            return None
        if isinstance(node, nodes.RequestRef | nodes.ResponseRef) and node.part == "body":
            root = "$request" if isinstance(node, nodes.RequestRef) else "$response"
            return f"{root}.body" + (f"#{node.pointer}" if node.pointer else "")
        if isinstance(node, nodes.MessageRef) and node.part == "payload":
            return "$message.payload" + (f"#{node.pointer}" if node.pointer else "")
        if isinstance(node, nodes.Inputs | nodes.Outputs):
            root = "$inputs" if isinstance(node, nodes.Inputs) else "$outputs"
            return f"{root}.{node.name}" + (f"#{node.pointer}" if node.pointer else "")
        return None


def _lone_value(text: str) -> bool:
    """A ``simple`` condition that is one value (an expression or a literal other than ``true``, ``false`` and
    ``null``), whose pass/fail 1.1 reads differently from 1.0."""
    from totpflow.arazzo.expressions import conditions

    try:
        root = conditions.parse_condition(text).root
    except ExpressionError:
        return False
    if isinstance(root, conditions.Lit):
        return not (root.value is None or isinstance(root.value, bool))
    return isinstance(root, conditions.Operand)


def _named(prefix: str, name: str, ptr: str | None, declared: set[str] | None, expression: Any) -> str | None:
    """``<prefix>.<name>[#ptr]`` in the spec form: a dotted name whose head is a declared output or input
    (and which is not itself declared) becomes that name plus a JSON Pointer; index access becomes a
    pointer."""

    if declared is not None and name not in declared:
        parts = name.split(".")
        for end in range(len(parts) - 1, 0, -1):
            head = ".".join(parts[:end])
            if head in declared:
                rest = pointer.join(parts[end:]) + (ptr or "")
                return f"{prefix}.{head}#{rest}"
    if expression.warnings:
        return f"{prefix}.{name}" + (f"#{ptr}" if ptr else "")
    return None


def _declared_inputs(workflow: dict[str, Any], components: Any) -> set[str] | None:
    """The input names ``workflow``'s ``inputs`` schema declares (through ``$ref`` and ``allOf``), or None
    when the schema cannot be read (its expressions are then left as they are)."""
    from totpflow.arazzo.errors import InputError
    from totpflow.arazzo.inputs import InputResolver

    table = components.get("inputs") if isinstance(components, dict) else None
    try:
        resolver = InputResolver(
            workflow.get("inputs"), {}, components_inputs=table if isinstance(table, dict) else {}
        )
    except InputError:
        return None
    return {*resolver.declared, *resolver.required}


def _like(original: Any, text: str) -> Any:
    """``text`` with the scalar style (quotes) of ``original`` when ruamel kept one."""
    style: Callable[[str], Any] | None = type(original) if type(original) is not str else None
    return style(text) if style is not None else text


def _items(items: Any) -> Iterator[tuple[int, dict[str, Any]]]:
    if isinstance(items, list):
        for index, item in enumerate(items):
            if isinstance(item, dict):
                yield index, item
