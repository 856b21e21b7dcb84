"""Semantic checks of an Arazzo document that the JSON Schema cannot express, all without its sources.

Checked (Arazzo 1.0.1 section in brackets): unique ``workflowId`` [Workflow Object], unique ``stepId`` per
workflow [Step Object], unique source description names [Source Description Object]; ``goto``/``retry``
targets [Success/Failure Action Object] and ``dependsOn`` entries [Workflow Object] exist, locally or as
``$sourceDescriptions.<arazzo source>.<workflowId>``; ``in`` is given on every parameter of an operation step,
also through a Reusable Object [Parameter Object]; every Reusable Object names an existing component of the
right kind [Reusable Object]; every runtime expression, ``{$…}`` template and criterion parses [Runtime
Expressions, Criterion Object]; ``$steps.x.outputs.y`` names a step of the same workflow that declares output
``y``, ``$workflows.w.outputs.y`` a workflow that declares it, ``$inputs.x`` (and
``$workflows.w.inputs.x``) an input the workflow's ``inputs`` schema declares (its ``properties``, through
``$ref`` and ``allOf``; a schema with ``additionalProperties`` set accepts any name), ``$outputs.y`` an output
of the workflow (of the called workflow in the criteria, actions and outputs of a ``workflowId`` step),
``$components.k.n`` an existing component and ``$sourceDescriptions.s.…`` an existing source; ``$message`` is
read only where a step's message exists, once an AsyncAPI step has sent or received it (``_step_kind``).

Non-spec forms that real documents use are accepted with a warning: a bare ``source#/paths/…`` operationPath
and, in a 1.0 document, dot access into a declared output or input (``$steps.x.outputs.user.id``,
``$inputs.user.id``). The strict 1.1 grammar reads such text as one dotted name, so in a 1.1 document it is a
problem unless that dotted name is declared.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from contextlib import suppress
from typing import TYPE_CHECKING, Any

import msgspec

from totpflow.arazzo.body import is_json, is_xml
from totpflow.arazzo.document.model import (
    ArazzoDocument,
    Criterion,
    FailureAction,
    Parameter,
    PayloadReplacement,
    RequestBody,
    ReusableRef,
    Step,
    SuccessAction,
    Workflow,
)
from totpflow.arazzo.document.references import (
    ComponentKind,
    component_reference,
    component_table,
    lookup_component,
    parameter_identity,
    resolve_failure_action,
    resolve_success_action,
    source_qualified,
)
from totpflow.arazzo.document.schema import location_key
from totpflow.arazzo.document.versions import UPGRADE_HINT, is_selector
from totpflow.arazzo.errors import DocumentError, ExpressionError
from totpflow.arazzo.expressions import nodes, pointer
from totpflow.arazzo.expressions.pointer import PointerError
from totpflow.arazzo.expressions.selector import compile_query, expression_type

if TYPE_CHECKING:
    from totpflow.arazzo.expressions import Expression

_ROOTS_1_1 = ("$self", "$message")
_OPERATION_PATH_PREFIX = "{$sourceDescriptions."
_OPERATION_PATH_SUFFIX = ".url}"


class Findings(msgspec.Struct):
    """Problems (the document is invalid) and warnings (accepted, worth knowing), in the order found.

    ``references`` are the problems of what expressions and steps refer to (expression syntax, steps,
    outputs, components and sources they name, how a step binds to its source); checking a document
    without its sources (``totpflow validate --skip-sources``) reports them as warnings."""

    problems: list[DocumentError] = msgspec.field(default_factory=list)
    warnings: list[str] = msgspec.field(default_factory=list)
    references: list[DocumentError] = msgspec.field(default_factory=list)

    def problem(self, location: str, message: str) -> None:
        self.problems.append(DocumentError(location, message))

    def reference(self, location: str, message: str) -> None:
        self.references.append(DocumentError(location, message))

    def warn(self, location: str, message: str) -> None:
        text = f"{location}: {message}"
        if text not in self.warnings:
            self.warnings.append(text)


def check_semantics(doc: ArazzoDocument, *, references_as_warnings: bool = False) -> Findings:
    """Every document-local problem of ``doc`` (which passed the JSON Schema check)."""
    checker = _Checker(doc)
    checker.run()
    findings = checker.findings
    if references_as_warnings:
        findings.warnings.extend(f"{p.location}: {p.message}" for p in findings.references)
    else:
        findings.problems.extend(findings.references)
    findings.references = []
    findings.problems.sort(key=lambda problem: location_key(problem.location))
    return findings


class _Checker:
    def __init__(self, doc: ArazzoDocument) -> None:
        self.doc = doc
        self.findings = Findings()
        self.workflow_ids = {workflow.workflow_id for workflow in doc.workflows}
        # What `$outputs.y` reads where an expression is checked: (whose outputs, their names), or None when
        # that cannot be known without the sources (a workflow of another document).
        self.outputs_scope: tuple[str, Mapping[str, Any]] | None = None
        self._inputs: dict[str, tuple[frozenset[str], bool]] = {}
        self._jump_targets: dict[str, int | None] = {}  # workflowId → the first step an action jumps to
        # Why the value being checked is evaluated where no step has a message yet (``$message`` there is
        # refused with this reason), or None.
        self._no_message: str | None = None

    def run(self) -> None:
        doc = self.doc
        self._unique(
            ((s.name, s.location + "/name") for s in doc.source_descriptions), "source description name"
        )
        self._unique(((w.workflow_id, w.location + "/workflowId") for w in doc.workflows), "workflowId")
        for workflow in doc.workflows:
            self._workflow(workflow)
        self._dependency_cycles()
        self.outputs_scope = None  # a component is used by any workflow
        components = doc.components
        for parameter in components.parameters.values():
            if parameter.in_ == "header":
                self._header_name(parameter.name, parameter.location + "/name")
            self._value(parameter.value, parameter.location + "/value", None)
        actions: list[SuccessAction | FailureAction] = [
            *components.success_actions.values(),
            *components.failure_actions.values(),
        ]
        for action in actions:
            self._one_target(action)
            self._criteria(action.criteria, None)
            self._action_parameters(action, None)

    # -- structure -------------------------------------------------------------------------------------------

    def _unique(self, pairs: Iterator[tuple[str, str]], what: str) -> None:
        first: dict[str, str] = {}
        for value, location in pairs:
            if value in first:
                self.findings.problem(location, f"duplicate {what} {value!r} (first at {first[value]})")
            else:
                first[value] = location

    def _dependency_cycles(self) -> None:
        """A workflow whose ``dependsOn`` leads back to itself can never run: the entry that closes each
        cycle is a problem (workflows of this document; one of another document is checked with it)."""
        edges = {
            workflow.workflow_id: [
                (target, f"{workflow.location}/dependsOn/{index}")
                for index, target in enumerate(workflow.depends_on)
                if target in self.workflow_ids
            ]
            for workflow in self.doc.workflows
        }
        done: set[str] = set()
        for start in edges:
            if start in done:
                continue
            path = [start]  # the workflows being visited, each with the index of its next edge
            following = [0]
            while path:
                current, index = path[-1], following[-1]
                if index == len(edges[current]):
                    done.add(path.pop())
                    following.pop()
                    continue
                following[-1] += 1
                target, location = edges[current][index]
                if target in path:
                    cycle = " → ".join([*path[path.index(target) :], target])
                    self.findings.problem(location, f"a dependsOn cycle: {cycle}")
                elif target not in done:
                    path.append(target)
                    following.append(0)

    def _workflow(self, workflow: Workflow) -> None:
        self.outputs_scope = (f"workflow {workflow.workflow_id!r}", workflow.outputs)
        if workflow.inputs:
            self._declared_inputs(workflow)  # its schema's references resolve
        self._unique(((s.step_id, s.location + "/stepId") for s in workflow.steps), "stepId")
        for index, target in enumerate(workflow.depends_on):
            self._workflow_target(target, f"{workflow.location}/dependsOn/{index}")
        self._parameters(workflow.parameters, workflow, operation_step=False)
        if not any(step.action is not None for step in workflow.steps):
            self._no_message = (
                "a workflow's actions are chosen in the context of the step that ended, and no step of this "
                "workflow is an AsyncAPI step"
            )
        self._actions(workflow.success_actions, workflow, "successActions")
        self._actions(workflow.failure_actions, workflow, "failureActions")
        self._no_message = None
        for name, value in workflow.outputs.items():
            self._output_name(name, f"{workflow.location}/outputs{pointer.join([name])}")
            self._value(value, f"{workflow.location}/outputs{pointer.join([name])}", workflow)
        for step in workflow.steps:
            self._step(step, workflow)

    def _step(self, step: Step, workflow: Workflow) -> None:
        location = step.location
        if self.doc.minor != "1.0":
            self._step_1_1(step, workflow)
        elif step.operation_id is not None:
            qualified = source_qualified(step.operation_id)
            if qualified is not None:
                self._source(qualified[0], location + "/operationId", want="openapi")
        elif step.operation_path is not None:
            self._operation_path(step.operation_path, location + "/operationPath")
        if step.workflow_id is not None:
            self._workflow_target(step.workflow_id, location + "/workflowId")
            self._called_inputs(step, workflow)
        self._parameters(step.parameters, workflow, operation_step=step.workflow_id is None, step=step)
        if step.request_body is not None:
            body = step.request_body
            if step.action == "send":
                self._no_message = f"step {step.step_id!r} builds the message it sends from its requestBody"
            if body.has_payload:
                self._value(body.payload, body.location + "/payload", workflow)
            for replacement in body.replacements:
                self._replacement_target(replacement, body)
                self._value(replacement.value, replacement.location + "/value", workflow)
            self._no_message = None
        own_outputs = self.outputs_scope
        if (
            step.workflow_id is not None
        ):  # its criteria, actions and outputs read the called workflow's outputs
            called = self.doc.workflow(step.workflow_id)
            self.outputs_scope = (
                None if called is None else (f"workflow {called.workflow_id!r}", called.outputs)
            )
        self._criteria(step.success_criteria, workflow)
        self._actions(step.on_success or (), workflow, "successActions")
        self._actions(step.on_failure or (), workflow, "failureActions")
        for name, value in step.outputs.items():
            self._output_name(name, f"{location}/outputs{pointer.join([name])}")
            self._value(value, f"{location}/outputs{pointer.join([name])}", workflow)
        self.outputs_scope = own_outputs

    def _output_name(self, name: str, location: str) -> None:
        """Workflow and Step Object ``outputs``: "The key is a friendly name … MUST use keys that match the
        regular expression: ``^[a-zA-Z0-9\\.\\-_]+$``" (the official schemas list it as a pattern property
        without forbidding other keys); a name outside it could not be read by ``$steps``/``$outputs``."""
        if not _OUTPUT_NAME.fullmatch(name):
            self.findings.problem(
                location, f"output name {name!r} may hold only letters, digits, '.', '-' and '_'"
            )

    def _step_1_1(self, step: Step, workflow: Workflow) -> None:
        """1.1: how a step binds to its source is only known with the source (an operationId may even be
        named ``url``, 1.1.0 "Source Description Expression Resolution"), so without it a mismatch between
        the step's form and its source's type is a warning; the run and a full ``validate`` check it."""
        from totpflow.arazzo.document.binding import step_binding

        for kind, where, message in step_binding(self.doc, step):
            if kind == "problem":
                self.findings.reference(where, message)
            else:
                self.findings.warn(where, message)
        for index, target in enumerate(step.depends_on):
            self._step_dependency(target, workflow, f"{step.location}/dependsOn/{index}")
        correlation = step.correlation_id
        if isinstance(correlation, dict | list):  # the schema allows them, the text says string (§7 item 4)
            self.findings.warn(
                step.location + "/correlationId",
                "a correlationId is a string in the Arazzo 1.1 text (the schema also allows this "
                f"{'object' if isinstance(correlation, dict) else 'array'}); it is compared with the "
                "message's value as its JSON text",
            )
        elif correlation is not None:
            if step.action is not None:
                self._no_message = (
                    f"step {step.step_id!r} evaluates its correlationId once, when it starts, to pick the "
                    "message it waits for (each message's own value is read at the correlationId location "
                    "its AsyncAPI message declares)"
                )
            self._value(correlation, step.location + "/correlationId", workflow)
            self._no_message = None
        if step.timeout is not None and step.timeout < 0:  # the schema sets no minimum
            self.findings.problem(
                step.location + "/timeout",
                f"a timeout is a number of milliseconds, 0 or more, not {step.timeout}",
            )

    def _step_dependency(self, target: str, workflow: Workflow, location: str) -> None:
        """A step ``dependsOn`` entry: a stepId of this workflow, ``$workflows.<id>.steps.<id>`` or
        ``$sourceDescriptions.<arazzo source>.<workflowId>.steps.<id>`` (1.1.0 Step Object)."""
        if not target.startswith("$"):
            if not _has_step(workflow, target):
                self.findings.problem(location, f"no step {target!r} in workflow {workflow.workflow_id!r}")
                return
            ids = [step.step_id for step in workflow.steps]
            own = location.rpartition("/dependsOn/")[0]
            position = next(i for i, step in enumerate(workflow.steps) if step.location == own)
            if ids.index(target) >= position:
                self.findings.problem(
                    location,
                    f"step {target!r} does not come before this step: steps run in the order they are "
                    "listed, so move it earlier",
                )
            return
        head, _, step_id = target.partition(".steps.")
        if head.startswith("$workflows."):
            other = self.doc.workflow(head.removeprefix("$workflows."))
            if other is None:
                self.findings.problem(location, f"{head}: no such workflow")
            elif not _has_step(other, step_id):
                self.findings.problem(location, f"no step {step_id!r} in workflow {other.workflow_id!r}")
            return
        qualified = source_qualified(head)
        if qualified is not None and step_id:
            self._source(qualified[0], location, want="arazzo")
            return
        self.findings.problem(
            location,
            "must be a stepId, $workflows.<workflowId>.steps.<stepId> or "
            "$sourceDescriptions.<name>.<workflowId>.steps.<stepId>",
        )

    def _operation_path(self, text: str, location: str) -> None:
        head, hash_, fragment = text.partition("#")
        if not hash_ or not fragment.startswith("/"):
            self.findings.reference(location, "must be {$sourceDescriptions.<name>.url}#<JSON Pointer>")
            return
        if head.startswith(_OPERATION_PATH_PREFIX) and head.endswith(_OPERATION_PATH_SUFFIX):
            self._source(
                head[len(_OPERATION_PATH_PREFIX) : -len(_OPERATION_PATH_SUFFIX)], location, "openapi"
            )
        elif self.doc.source_description(head) is not None:
            self.findings.warn(
                location,
                f"non-spec operationPath form {head + '#…'!r} accepted; "
                f"the spec form is {{$sourceDescriptions.{head}.url}}#…",
            )
        elif not any(head == source.url for source in self.doc.source_descriptions):
            self.findings.reference(location, f"operationPath names no source description ({head!r})")

    def _source(self, name: str, location: str, want: str) -> None:
        source = self.doc.source_description(name)
        if source is None:
            self.findings.reference(location, f"no source description named {name!r}")
        elif source.type is not None and source.type != want:
            self.findings.reference(
                location, f"source description {name!r} is of type {source.type}, not {want}"
            )

    def _workflow_target(self, target: str, location: str) -> None:
        qualified = source_qualified(target)
        if qualified is not None:
            self._source(qualified[0], location, want="arazzo")
        elif target not in self.workflow_ids:
            self.findings.problem(location, f"no workflow with workflowId {target!r}")

    def _called_inputs(self, step: Step, workflow: Workflow) -> None:
        """A warning for a ``workflowId`` step (of this document) that does not give a required input of the
        workflow it calls: a called workflow's inputs are the step's and its workflow's parameters without
        ``in``, never the run's, so the run asks for it on a terminal or fails."""
        called = None if step.workflow_id is None else self.doc.workflow(step.workflow_id)
        if called is None:
            return
        from totpflow.arazzo.errors import InputError
        from totpflow.arazzo.inputs.schema import InputsSchema

        try:
            schema = InputsSchema.of(called.inputs, self.doc.components.inputs)
        except InputError:  # reported where the called workflow's inputs are written
            return
        given: set[str] = set()
        for item in (*step.parameters, *workflow.parameters):
            parameter: object = item
            if isinstance(item, ReusableRef):
                try:
                    parameter = lookup_component(self.doc, item, "parameters")
                except DocumentError:  # reported where the reference is written
                    continue
            if isinstance(parameter, Parameter) and parameter.in_ is None:
                given.add(parameter.name)
        missing = [
            name
            for name in schema.required
            if name not in given and "default" not in schema.properties.get(name, {})
        ]
        if missing:
            self.findings.warn(
                step.location + "/parameters",
                f"workflow {called.workflow_id!r} requires input{'s' if len(missing) > 1 else ''} "
                f"{', '.join(missing)}, which this step does not give (a parameter without 'in'): the run "
                "will ask for it on a terminal, or fail",
            )

    # -- parameters and actions ------------------------------------------------------------------------------

    def _parameters(
        self,
        items: tuple[Parameter | ReusableRef, ...],
        workflow: Workflow,
        *,
        operation_step: bool,
        step: Step | None = None,
    ) -> None:
        """The parameters of ``step``, else of ``workflow`` (which apply to its steps)."""
        whole_query: str | None = None  # where the list's ``in: querystring`` parameter is
        for item in items:
            parameter: object = item
            if isinstance(item, ReusableRef):
                with suppress(DocumentError):  # a reference that does not resolve is reported where written
                    parameter = lookup_component(self.doc, item, "parameters")
            if isinstance(parameter, Parameter) and parameter.in_ == "querystring":
                if whole_query is not None:
                    self.findings.problem(
                        item.location,
                        "a second 'in: querystring' parameter: it is the whole query component, which a "
                        f"request has one of (the first is at {whole_query})",
                    )
                whole_query = whole_query or item.location
        for item in items:
            if isinstance(item, ReusableRef):
                parameter = self._reference(item, "parameters")
                if item.has_value:
                    if isinstance(parameter, Parameter):
                        self._no_message = self._parameter_before_message(parameter, step, workflow)
                    self._value(item.value, item.location + "/value", workflow)
                    self._no_message = None
                if isinstance(parameter, Parameter) and operation_step and parameter.in_ is None:
                    self.findings.problem(
                        item.location,
                        f"{item.reference} has no 'in', which a parameter of an operation step needs",
                    )
                continue
            if operation_step and item.in_ is None:
                self.findings.problem(item.location, "'in' is required on a parameter of an operation step")
            if item.in_ == "header":
                self._header_name(item.name, item.location + "/name")
            self._no_message = self._parameter_before_message(item, step, workflow)
            self._value(item.value, item.location + "/value", workflow)
            self._no_message = None

    def _parameter_before_message(
        self, parameter: Parameter, step: Step | None, workflow: Workflow
    ) -> str | None:
        """Why ``parameter`` (of ``step``, else of ``workflow``) is evaluated before any message of a step
        exists, or None when no step evaluates it so. A step's own parameters: an AsyncAPI step's channel
        parameters (when it subscribes or sends) and a send step's header parameters (in the message it
        sends); an OpenAPI step's are refused as its other ``$message`` uses are. A workflow's parameter: when
        a step it applies to (one that does not give its own of the same name and ``in``) evaluates it."""
        if step is not None:
            if step.action is not None and _before_message(step, parameter.in_):
                kind = parameter.in_
                return f"step {step.step_id!r} evaluates its {kind} parameters before {_its_message(step)}"
            return None
        identity = parameter_identity(parameter.name, parameter.in_)
        for target in workflow.steps:
            own: set[tuple[str, str | None]] = set()
            for item in target.parameters:
                resolved: object = item
                if isinstance(item, ReusableRef):
                    with suppress(DocumentError):  # reported where the reference is written
                        resolved = lookup_component(self.doc, item, "parameters")
                if isinstance(resolved, Parameter):
                    own.add(parameter_identity(resolved.name, resolved.in_))
            if identity not in own and _before_message(target, parameter.in_):
                return (
                    f"a workflow's parameter is evaluated by the steps it applies to, and step "
                    f"{target.step_id!r} evaluates it before {_its_message(target)}"
                )
        return None

    def _replacement_target(self, replacement: PayloadReplacement, body: RequestBody) -> None:
        """A target parses in the language it will be read in: its ``targetSelectorType`` (a JSON Pointer,
        a JSONPath or an XPath of the version given), else a JSON Pointer for a structured payload or a text
        payload declared JSON, and an XPath (3.1) for a text payload declared XML. A text payload's media type
        may come from the operation, which validation does not know; without one it is left to the run."""
        given = replacement.target_selector_type
        if given is None:
            text = isinstance(body.payload, str)
            declared = body.content_type or ""
            if not text or is_json(declared):
                kind, version = "jsonpointer", "rfc6901"
            elif is_xml(declared):
                kind, version = "xpath", "xpath-31"
            else:
                return
        else:
            typed = expression_type(given)
            if typed is None:  # an unknown selector type is the schema's finding
                return
            kind, version = typed
        where = replacement.location + "/target"
        if kind == "jsonpointer":
            try:
                pointer.split(replacement.target)
            except PointerError as exc:
                self.findings.problem(where, f"{replacement.target!r}: {exc.message}")
            return
        try:
            compile_query(kind, version, replacement.target)
        except ExpressionError as exc:
            self.findings.problem(where, f"{replacement.target!r}: {exc.message}")

    def _header_name(self, name: str, location: str) -> None:
        """A header parameter's name is a field name (RFC 9110 §5.1: a token), and not one of the fields that
        frame the message, which the runner writes itself from the request it sends."""
        if not _FIELD_NAME.fullmatch(name):
            self.findings.problem(location, f"{name!r} is not an HTTP field name (RFC 9110 §5.1: a token)")
        elif name.lower() in _FRAMING_FIELDS:
            self.findings.problem(location, f"the runner sets {name!r} itself, from the request it sends")

    def _actions(
        self,
        items: tuple[SuccessAction | FailureAction | ReusableRef, ...],
        workflow: Workflow,
        kind: ComponentKind,
    ) -> None:
        for item in items:
            action = self._reference(item, kind) if isinstance(item, ReusableRef) else item
            if not isinstance(action, SuccessAction | FailureAction):
                continue
            where = item.location
            if item is action:  # a component is checked once, with the components
                self._one_target(action)
            if action.step_id is not None and not _has_step(workflow, action.step_id):
                self.findings.problem(
                    where + ("/stepId" if item is action else ""),
                    f"no step {action.step_id!r} in workflow {workflow.workflow_id!r}",
                )
            if action.workflow_id is not None:
                self._workflow_target(action.workflow_id, where + ("/workflowId" if item is action else ""))
            if item is action:  # a component's criteria are checked once, with the component
                self._criteria(action.criteria, workflow)
                self._action_parameters(action, workflow)

    def _one_target(self, action: SuccessAction | FailureAction) -> None:
        """An action names a step or a workflow to go to, not both (1.0.1: workflowId "is mutually exclusive
        to stepId"; the official schema refuses both for a goto only)."""
        if action.step_id is not None and action.workflow_id is not None:
            self.findings.problem(
                action.location, "workflowId and stepId are mutually exclusive: name one target"
            )

    def _action_parameters(self, action: SuccessAction | FailureAction, workflow: Workflow | None) -> None:
        """1.1 action ``parameters``: inputs of the workflow the action goes to; ``in`` MUST NOT be used."""
        if not action.parameters:
            return
        if action.workflow_id is None:
            self.findings.problem(
                action.location + "/parameters", "'parameters' need a 'workflowId' to pass them to"
            )
        for item in action.parameters:
            if isinstance(item, Parameter) and item.in_ is not None:
                self.findings.problem(
                    item.location + "/in", "'in' must not be used in an action's parameters"
                )
            elif isinstance(item, ReusableRef):
                with suppress(DocumentError):  # a reference that does not resolve is reported where written
                    component = lookup_component(self.doc, item, "parameters")
                    if isinstance(component, Parameter) and component.in_ is not None:
                        self.findings.problem(
                            item.location,
                            f"{item.reference} has 'in', which must not be used in an action's parameters",
                        )
            value = item.value if isinstance(item, Parameter) else item.value if item.has_value else None
            self._value(value, item.location + "/value", workflow)

    def _reference(self, item: ReusableRef, kind: ComponentKind) -> object:
        try:
            return lookup_component(self.doc, item, kind)
        except DocumentError as exc:
            self.findings.problem(item.location + "/reference", exc.message)
            return None

    # -- expressions -----------------------------------------------------------------------------------------

    def _criteria(self, criteria: tuple[Criterion, ...], workflow: Workflow | None) -> None:
        from totpflow.arazzo.criteria import compile_criterion
        from totpflow.arazzo.expressions.template import has_template

        for criterion in criteria:
            try:
                compiled = compile_criterion(criterion)
            except ExpressionError as exc:
                location = exc.location or criterion.location + "/condition"
                query = (
                    criterion.type in ("jsonpath", "xpath")
                    and location.endswith("/condition")
                    and not has_template(criterion.condition)
                )
                self._syntax(location, exc, query=query)
                continue
            for expression in compiled.expressions:
                field_name = "context" if str(expression) == criterion.context else "condition"
                self._expression(expression, f"{criterion.location}/{field_name}", workflow)

    def _syntax(self, location: str, exc: ExpressionError, *, query: bool = False) -> None:
        """An expression or condition that does not parse. Checked without the sources, only the forms the
        official 1.1 pass documents use are warnings (``_TOLERATED``, and a JSONPath or XPath ``query`` its
        strict language refuses); any other syntax error, which no Arazzo version's grammar derives, stays a
        problem."""
        if query or _tolerated(exc):
            self.findings.reference(location, _position(exc))
        else:
            self.findings.problem(location, _position(exc))

    def _value(self, value: Any, location: str, workflow: Workflow | None) -> None:
        """Check every string leaf of a literal-or-expression value (payloads, parameter values, outputs)."""
        if self.doc.minor != "1.0" and is_selector(value):
            self._selector(value, location, workflow)
        elif isinstance(value, dict):
            for key, item in value.items():
                self._value(item, location + pointer.join([key]), workflow)
        elif isinstance(value, list):
            for index, item in enumerate(value):
                self._value(item, f"{location}/{index}", workflow)
        elif isinstance(value, str) and "$" in value:
            from totpflow.arazzo.expressions import compile_value

            try:
                compiled = compile_value(value)
            except ExpressionError as exc:
                self._syntax(location, exc)
                return
            for expression in compiled.expressions():
                self._expression(expression, location, workflow)

    def _selector(self, selector: dict[str, Any], location: str, workflow: Workflow | None) -> None:
        """A 1.1 Selector Object (the schema checks its ``type``): ``context`` is a runtime expression."""
        from totpflow.arazzo.expressions import parse

        context = selector["context"]
        try:
            expression = parse(context) if isinstance(context, str) else None
        except ExpressionError as exc:
            self._syntax(location + "/context", exc)
            expression = None
        if expression is not None:
            self._expression(expression, location + "/context", workflow)
        from totpflow.arazzo.expressions.selector import compile_query, expression_type

        typed = expression_type(selector.get("type"))
        if typed is not None and isinstance(selector.get("selector"), str):
            try:
                compile_query(typed[0], typed[1], selector["selector"])
            except ExpressionError as exc:
                self.findings.problem(location + "/selector", exc.message)

    def _expression(self, expression: Expression, location: str, workflow: Workflow | None) -> None:
        """Check what a parsed expression refers to (the parser has checked its syntax).

        The parser's warnings (non-spec ``[n]`` or dot access) name the pointer form after the value name as
        the grammar reads it; when the check of that name finds it undeclared and advises reading into a
        declared name instead, that advice (which holds the whole access as one pointer) replaces them, so
        the expression is reported once."""
        findings = self.findings
        marks = (len(findings.warnings), len(findings.references))
        if not self._references(expression, location, workflow):
            for warning in reversed(expression.warnings):
                if self.doc.minor == "1.0":  # 1.0: the lenient forms real documents use, with a warning
                    text = f"{location}: {warning}"
                    if text not in findings.warnings:
                        findings.warnings.insert(marks[0], text)
                else:  # 1.1: the strict grammar (a warning when the document is checked without its sources)
                    message = f"{warning} (the Arazzo 1.1 grammar has no other form)"
                    findings.references.insert(marks[1], DocumentError(location, message))

    def _references(self, expression: Expression, location: str, workflow: Workflow | None) -> bool:
        """Check the steps, inputs, outputs, workflows, components and sources ``expression`` names; whether
        a dotted value name was reported with the spec form that reads into a declared name."""
        node = expression.node
        head = expression.text.partition("#")[0]
        parts = head.split(".")
        root = parts[0]
        if root in _ROOTS_1_1 and self.doc.minor == "1.0":
            self.findings.problem(
                location,
                f"{root} is an Arazzo 1.1 expression, but the document declares arazzo {self.doc.arazzo}: "
                f"{UPGRADE_HINT}",
            )
        elif root in _STEP_KIND_ROOTS and workflow is not None:
            self._step_kind(root, workflow, location)
        elif isinstance(node, nodes.Steps) and workflow is not None:
            return self._step_reference(node, workflow, location)
        elif isinstance(node, nodes.Inputs) and workflow is not None:
            return self._input_reference("$inputs.", node.name, node.pointer, workflow, location)
        elif isinstance(node, nodes.Outputs) and workflow is not None and self.outputs_scope:
            owner, outputs = self.outputs_scope
            advised = self._declared("$outputs.", node.name, node.pointer, outputs, owner, location)
            self._own_output(node.name.split(".")[0], workflow, location)
            return advised
        elif isinstance(node, nodes.Workflows):
            return self._workflow_reference(node, location)
        elif root == "$components" and len(parts) >= 3:
            parsed = component_reference(head)
            if parsed is not None and parsed[1] not in component_table(self.doc, parsed[0]):
                self.findings.reference(location, f"{head!r}: no such component")
        elif (
            root == "$sourceDescriptions"
            and len(parts) >= 2
            and self.doc.source_description(parts[1]) is None
        ):
            self.findings.reference(location, f"{head!r}: no source description named {parts[1]!r}")
        return False

    def _step_reference(self, node: nodes.Steps, workflow: Workflow, location: str) -> bool:
        step_id = node.step
        step = next((s for s in workflow.steps if s.step_id == step_id), None)
        if step is None:
            self.findings.reference(location, f"$steps.{step_id}: no step {step_id!r} in this workflow")
            return False
        prefix = f"$steps.{step_id}.outputs."
        advised = self._declared(
            prefix, node.output, node.pointer, step.outputs, f"step {step_id!r}", location
        )
        self._step_order(step, workflow, location)
        return advised

    def _step_order(self, step: Step, workflow: Workflow, location: str) -> None:
        """A step reading a later step (1.1.0 "Step Dependencies and Execution Order": reported as an error).
        Steps run in the order they are listed, so the later step has not run when this one first does; it
        can have only when an action jumps back to this step or one before it (``goto`` or a ``retry`` with a
        ``stepId``), and then the reference is a warning."""
        steps = workflow.steps
        reading = _position_of(workflow, location)
        read = steps.index(step)
        if reading is None or read <= reading:
            return
        first_jump = self._first_jump_target(workflow)
        message = (
            f"$steps.{step.step_id} reads step {step.step_id!r}, which comes after this step: steps run "
            "in the order they are listed"
        )
        if first_jump is not None and first_jump <= reading:
            self.findings.warn(location, f"{message}, so it has run only if an action jumps back here")
        else:
            self.findings.problem(location, f"{message}, and no action jumps back here: move it earlier")

    def _own_output(self, name: str, workflow: Workflow, location: str) -> None:
        """A workflow's own ``$outputs`` exist once its steps are over, evaluated in the order they are
        written: an output reads only those before it, and a step other than a ``workflowId`` step (whose
        ``$outputs`` are the called workflow's) reads none."""
        position = _position_of(workflow, location)
        if position is not None:
            if workflow.steps[position].workflow_id is None:
                self.findings.problem(
                    location,
                    f"$outputs.{name} is the workflow's own output, which exists only once its steps are "
                    "over (in a step, $outputs are a called workflow's: a workflowId step); read the step "
                    "that produces it with $steps.<stepId>.outputs.<name>",
                )
            return
        own = f"{workflow.location}/outputs/"
        if location.startswith(own):
            names = list(workflow.outputs)
            reading = pointer.split("/" + location[len(own) :].split("/")[0])[0]
            if name in names and reading in names and names.index(name) >= names.index(reading):
                self.findings.problem(
                    location,
                    f"$outputs.{name} is evaluated after this output (a workflow's outputs are evaluated in "
                    "the order they are written)",
                )

    def _step_kind(self, root: str, workflow: Workflow, location: str) -> None:
        """``$message`` exists only in an AsyncAPI step (an ``action``), the HTTP exchange's ``$request``,
        ``$response``, ``$statusCode``, ``$url`` and ``$method`` only in an OpenAPI one; none in a workflow's
        outputs, which are evaluated once its steps are over.

        ``$message`` is the message the step sent or received, so it has a value only once that is done: in
        the step's ``successCriteria``, ``onSuccess``, ``onFailure`` and ``outputs`` (and a workflow's
        actions, chosen for its steps). What the step evaluates before — its channel parameters, a send
        step's header parameters and ``requestBody``, a receive step's ``correlationId``, a workflow
        parameter a step applies — has none (``_no_message`` says why); nor has a ``workflowId`` step."""
        position = _position_of(workflow, location)
        if position is None:
            if location.startswith(f"{workflow.location}/outputs/"):
                self.findings.problem(
                    location,
                    f"{root} has no value in a workflow's outputs, which are evaluated once its steps are "
                    "over: give the step an output and read it with $steps.<stepId>.outputs.<name>",
                )
            elif root == "$message" and self._no_message is not None:
                self.findings.problem(location, f"$message has no value here: {self._no_message}")
            return
        step = workflow.steps[position]
        if root == "$message" and step.workflow_id is not None:
            self.findings.problem(
                location,
                "$message has no value in a workflowId step, which sends and receives no message itself: "
                "give the called workflow an output and read it with $outputs.<name>",
            )
            return
        if step.workflow_id is not None:
            return  # a workflow step: its criteria and outputs read what its workflow reports
        if root == "$message" and self._no_message is not None:
            self.findings.problem(
                location,
                f"$message has no value here: {self._no_message}; it is the step's message in its "
                "successCriteria, onSuccess, onFailure and outputs",
            )
            return
        if root == "$message" and step.action is None:
            self.findings.problem(
                location, "$message is only available in an AsyncAPI step (one with an action)"
            )
        elif root != "$message" and step.action is not None:
            self.findings.problem(
                location, f"{root} is only available in an OpenAPI step; an AsyncAPI step has $message"
            )

    def _first_jump_target(self, workflow: Workflow) -> int | None:
        """The position of the first step of ``workflow`` that any of its actions (a step's, the workflow's,
        or a component either uses) names by ``stepId``."""
        if workflow.workflow_id not in self._jump_targets:
            named: set[str] = set()
            successes = [*workflow.success_actions, *(a for s in workflow.steps for a in s.on_success or ())]
            failures = [*workflow.failure_actions, *(a for s in workflow.steps for a in s.on_failure or ())]
            for item in successes:
                with suppress(DocumentError):  # reported where it is written, by its own check
                    named.add(resolve_success_action(self.doc, item).step_id or "")
            for failure in failures:
                with suppress(DocumentError):  # reported where it is written, by its own check
                    named.add(resolve_failure_action(self.doc, failure).step_id or "")
            positions = [i for i, s in enumerate(workflow.steps) if s.step_id in named]
            self._jump_targets[workflow.workflow_id] = min(positions, default=None)
        return self._jump_targets[workflow.workflow_id]

    def _workflow_reference(self, node: nodes.Workflows, location: str) -> bool:
        target = self.doc.workflow(node.workflow)
        if target is None:
            self.findings.reference(location, f"$workflows.{node.workflow}: no workflow {node.workflow!r}")
            return False
        prefix = f"$workflows.{node.workflow}.{node.kind}."
        if node.kind == "inputs":
            return self._input_reference(prefix, node.name, node.pointer, target, location)
        owner = f"workflow {node.workflow!r}"
        return self._declared(prefix, node.name, node.pointer, target.outputs, owner, location)

    def _input_reference(
        self, prefix: str, name: str, ptr: str | None, workflow: Workflow, location: str
    ) -> bool:
        declared, open_ended = self._declared_inputs(workflow)
        if open_ended:
            return False
        listing = ", ".join(sorted(declared)) or "none"
        return self._declared(
            prefix,
            name,
            ptr,
            dict.fromkeys(declared),
            f"workflow {workflow.workflow_id!r}",
            location,
            what="input",
            known=listing,
        )

    def _declared_inputs(self, workflow: Workflow) -> tuple[frozenset[str], bool]:
        """The input names ``workflow``'s ``inputs`` schema declares, and whether it accepts any other name
        (``additionalProperties`` given and not false, or a schema that cannot be read here)."""
        known = self._inputs.get(workflow.workflow_id)
        if known is None:
            from totpflow.arazzo.errors import InputError
            from totpflow.arazzo.inputs import InputResolver

            try:
                resolver = InputResolver(workflow.inputs, {}, components_inputs=self.doc.components.inputs)
            except InputError as exc:  # a $ref to a missing component: reported once, where it is written
                ref = isinstance(workflow.inputs, Mapping) and "$ref" in workflow.inputs
                self.findings.problem(f"{workflow.location}/inputs{'/$ref' if ref else ''}", exc.message)
                known = (frozenset(), True)
            else:
                extra = resolver.schema_keyword("additionalProperties")
                known = (frozenset((*resolver.declared, *resolver.required)), extra not in (None, False))
            self._inputs[workflow.workflow_id] = known
        return known

    def _declared(
        self,
        prefix: str,
        name: str,
        ptr: str | None,
        outputs: Mapping[str, Any],
        owner: str,
        location: str,
        *,
        what: str = "output",
        known: str | None = None,
    ) -> bool:
        """Check the value ``name`` (written ``<prefix><name>``, then the JSON Pointer ``ptr``, which holds
        any ``[n]`` access the parser turned into one) against the declared ``outputs`` (or inputs).

        Output and input names may contain dots (``identifier``), so a declared name is looked up whole
        first. A declared prefix followed by more dots is the dot-access quirk: accepted with a warning in a
        1.0 document; in a 1.1 document the grammar reads the whole dotted text as one undeclared name, so it
        is a problem naming the JSON Pointer form (a warning without the sources, as any reference). That
        form reads into the longest declared prefix, the rest of the name and ``ptr`` as one pointer. Returns
        whether it was reported so."""
        if name in outputs:
            return False
        names = name.split(".")
        for end in range(len(names) - 1, 0, -1):
            head = ".".join(names[:end])
            if head in outputs:
                spec_form = f"{prefix}{head}#{pointer.join(names[end:])}{ptr or ''}"
                if self.doc.minor == "1.0":
                    self.findings.warn(
                        location,
                        f"non-spec dot access into {what} {head!r} of {owner} accepted; "
                        f"the spec form is a JSON Pointer after '#': {spec_form}",
                    )
                else:
                    self.findings.reference(
                        location,
                        f"{owner} declares no {what} {name!r}: the Arazzo 1.1 grammar reads "
                        f"{prefix + name!r} as one {what} name (dots allowed); to read into {what} {head!r} "
                        f"write {spec_form}",
                    )
                return True
        listing = f" ({what}s: {known})" if known is not None else ""
        self.findings.reference(location, f"{owner} declares no {what} {name!r}{listing}")
        return False


_STEP_KIND_ROOTS = frozenset({"$message", "$request", "$response", "$statusCode", "$url", "$method"})


def _before_message(step: Step, in_: str | None) -> bool:
    """Whether ``step`` evaluates a parameter of its merged ``parameters`` in ``in_`` before it has sent
    or received a message: a ``workflowId`` step those without ``in`` (its workflow's inputs); an OpenAPI
    step those with one (it has no message); a send step its channel and header parameters; a receive step
    its channel parameters (when it subscribes; it has no use for a header parameter)."""
    if step.workflow_id is not None:
        return in_ is None
    if step.action is None:
        return in_ is not None
    return in_ == "channel" or (in_ == "header" and step.action == "send")


def _its_message(step: Step) -> str:
    if step.workflow_id is not None:
        return "it calls its workflow (a workflowId step has no message)"
    if step.action is None:
        return "it sends its request (an OpenAPI step has no message)"
    if step.action == "send":
        return "it sends its message"
    return "it subscribes to its channel, so before any message arrives"


def _position_of(workflow: Workflow, location: str) -> int | None:
    """The position of the step of ``workflow`` that ``location`` points into, if any."""
    for index, step in enumerate(workflow.steps):
        if location == step.location or location.startswith(step.location + "/"):
            return index
    return None


def _has_step(workflow: Workflow, step_id: str) -> bool:
    return any(step.step_id == step_id for step in workflow.steps)


_OUTPUT_NAME = re.compile(r"[a-zA-Z0-9.\-_]+")
_FIELD_NAME = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]+")
# Fields that frame the message on the wire (RFC 9112 §6, §9.6; RFC 9110 §7.2): a parameter that set them
# would cut the body short or desynchronise a kept-alive connection.
_FRAMING_FIELDS = frozenset({"content-length", "transfer-encoding", "host", "connection", "te", "upgrade"})

# Forms outside every Arazzo grammar that the official 1.1 pass documents (and the 1.1 text) use: `headers`
# for `header` (`$response.headers.Location`), a whole outputs map (`$steps.previous.outputs`) and a step of
# another workflow (`$workflows.<id>.steps.<id>…`, 1.1.0 `dependsOn`, reference §7 item 3).
_TOLERATED = re.compile(
    r"\$(?:request|response)\.headers\.[A-Za-z0-9!#$%&'*+.^_`|~-]+$"
    r"|\$(?:steps|workflows)\.[A-Za-z0-9_-]+\.outputs$"
    r"|\$workflows\.[A-Za-z0-9_-]+\.steps\.[A-Za-z0-9_-]+(?:\.outputs\.[A-Za-z0-9._-]+)?$"
)


def _tolerated(exc: ExpressionError) -> bool:
    """Whether the runtime expression ``exc`` points into is one of the ``_TOLERATED`` forms."""
    text = exc.expression
    start = text.rfind("$", 0, exc.position + 1)
    if start < 0:
        return False
    end = start + 1
    while end < len(text) and text[end] not in " \t}=!<>&|()'\"":
        end += 1
    return _TOLERATED.match(text[start:end]) is not None


def _position(exc: ExpressionError) -> str:
    return f"{exc.message} at position {exc.position} in {exc.expression!r}"
