"""An ``EvaluationContext`` built from plain dictionaries, as the YAML case files describe a run's state.

url, method, statusCode
request / response: {headers: {name: value} | [[name, value], ...], query: {}, path: {}, body: any}
inputs / outputs: {name: value}
steps: {stepId: {outputName: value}}
workflows: {workflowId: {inputs: {}, outputs: {}}}
sourceDescriptions: {name: {url: …, type: …, <operationId>: …}}
components: {parameters: {}, successActions: {}, failureActions: {}}
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from totpflow.arazzo.errors import EvaluationError
from totpflow.arazzo.expressions import Headers, Message


def _message(spec: Mapping[str, Any] | None) -> Message | None:
    if spec is None:
        return None
    headers = spec.get("headers", {})
    pairs = [tuple(p) for p in headers] if isinstance(headers, list) else headers
    return Message(
        headers=Headers(pairs),
        query=dict(spec.get("query", {})),
        path=dict(spec.get("path", {})),
        body=spec.get("body"),
    )


class DictContext:
    def __init__(self, given: Mapping[str, Any] | None = None) -> None:
        self.given: Mapping[str, Any] = given or {}
        self._request = _message(self.given.get("request"))
        self._response = _message(self.given.get("response"))

    def _named(self, table: str, name: str) -> Any:
        values = self.given.get(table, {})
        if name not in values:
            raise EvaluationError(f"{table}.{name}", f"no {table[:-1]} named {name!r}")
        return values[name]

    def url(self) -> str | None:
        value = self.given.get("url")
        return None if value is None else str(value)

    def method(self) -> str | None:
        value = self.given.get("method")
        return None if value is None else str(value)

    def status_code(self) -> int | None:
        value = self.given.get("statusCode")
        return None if value is None else int(value)

    def request(self) -> Message | None:
        return self._request

    def response(self) -> Message | None:
        return self._response

    def input(self, name: str) -> Any:
        return self._named("inputs", name)

    def input_absent(self, name: str) -> bool:
        return name in self.given.get("absent_inputs", ())

    def output(self, name: str) -> Any:
        return self._named("outputs", name)

    def step_output(self, step_id: str, name: str) -> Any:
        steps = self.given.get("steps", {})
        if step_id not in steps:
            raise EvaluationError(f"steps.{step_id}", f"step {step_id!r} has not run")
        if name not in steps[step_id]:
            raise EvaluationError(f"steps.{step_id}", f"step {step_id!r} has no output {name!r}")
        return steps[step_id][name]

    def workflow_value(self, workflow_id: str, kind: Literal["inputs", "outputs"], name: str) -> Any:
        workflow = self.given.get("workflows", {}).get(workflow_id)
        if workflow is None or name not in workflow.get(kind, {}):
            raise EvaluationError(
                f"workflows.{workflow_id}", f"workflow {workflow_id!r} has no {kind} {name!r}"
            )
        return workflow[kind][name]

    def source_description(self, name: str, field: str) -> Any:
        source = self.given.get("sourceDescriptions", {}).get(name)
        if source is None or field not in source:
            raise EvaluationError(f"sourceDescriptions.{name}", f"no {field!r} in source {name!r}")
        return source[field]

    def document_identity(self) -> str | None:
        identity = self.given.get("self")
        return identity if isinstance(identity, str) else None

    def component(self, kind: str, name: str) -> Any:
        table = self.given.get("components", {}).get(kind, {})
        if name not in table:
            raise EvaluationError(f"components.{kind}", f"no component {kind}.{name}")
        return table[name]
