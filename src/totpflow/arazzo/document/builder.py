"""Build the frozen model (``model.py``) from a document that passed the JSON Schema check.

Each record keeps the JSON Pointer of the object it came from. Reusable Objects (``reference:
$components.…``) stay unresolved here (``ReusableRef``); ``references.py`` resolves them when asked, so a
document can be inspected exactly as written.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from totpflow.arazzo.document.model import (
    ArazzoDocument,
    Components,
    Criterion,
    CriterionType,
    FailureAction,
    Info,
    Parameter,
    ParameterIn,
    PayloadReplacement,
    RequestBody,
    ReusableRef,
    SourceDescription,
    Step,
    SuccessAction,
    Workflow,
)
from totpflow.arazzo.expressions import pointer
from totpflow.arazzo.expressions.selector import mark_selectors

Mark = Callable[[Any], Any]


def _literal(value: Any) -> Any:
    return value


def build_document(data: dict[str, Any], url: str) -> ArazzoDocument:
    """The model of ``data``. In a 1.1 document every Selector Object in a value (outputs, parameter and
    replacement values, payloads) is marked as one (``expressions.selector``); in 1.0 it stays a literal."""
    mark: Mark = mark_selectors if str(data.get("arazzo", "")).startswith("1.1") else _literal
    info = data["info"]
    components = data.get("components") or {}
    return ArazzoDocument(
        arazzo=data["arazzo"],
        info=Info(
            title=info["title"],
            version=info["version"],
            summary=info.get("summary"),
            description=info.get("description"),
        ),
        source_descriptions=tuple(
            SourceDescription(
                name=source["name"],
                url=source["url"],
                type=source.get("type"),
                location=f"/sourceDescriptions/{index}",
            )
            for index, source in enumerate(data["sourceDescriptions"])
        ),
        workflows=tuple(
            _workflow(workflow, f"/workflows/{index}", mark)
            for index, workflow in enumerate(data["workflows"])
        ),
        components=Components(
            inputs=dict(components.get("inputs") or {}),
            parameters={
                name: cast(Parameter, _parameter(item, _at("/components/parameters", name), mark))
                for name, item in (components.get("parameters") or {}).items()
            },
            success_actions={
                name: cast(
                    SuccessAction, _success_action(item, _at("/components/successActions", name), mark)
                )
                for name, item in (components.get("successActions") or {}).items()
            },
            failure_actions={
                name: cast(
                    FailureAction, _failure_action(item, _at("/components/failureActions", name), mark)
                )
                for name, item in (components.get("failureActions") or {}).items()
            },
        ),
        url=url,
        raw=data,
        self_uri=data.get("$self"),
    )


def _at(location: str, key: str) -> str:
    return location + pointer.join([key])


def _workflow(data: dict[str, Any], location: str, mark: Mark) -> Workflow:
    return Workflow(
        workflow_id=data["workflowId"],
        location=location,
        steps=tuple(
            _step(step, f"{location}/steps/{index}", mark) for index, step in enumerate(data["steps"])
        ),
        summary=data.get("summary"),
        description=data.get("description"),
        inputs=data.get("inputs"),
        depends_on=tuple(data.get("dependsOn") or ()),
        success_actions=_list(data.get("successActions"), f"{location}/successActions", _success_action, mark)
        or (),
        failure_actions=_list(data.get("failureActions"), f"{location}/failureActions", _failure_action, mark)
        or (),
        outputs=_outputs(data.get("outputs"), mark),
        parameters=_list(data.get("parameters"), f"{location}/parameters", _parameter, mark) or (),
    )


def _step(data: dict[str, Any], location: str, mark: Mark) -> Step:
    body = data.get("requestBody")
    return Step(
        step_id=data["stepId"],
        location=location,
        description=data.get("description"),
        operation_id=data.get("operationId"),
        operation_path=data.get("operationPath"),
        workflow_id=data.get("workflowId"),
        parameters=_list(data.get("parameters"), f"{location}/parameters", _parameter, mark) or (),
        request_body=_request_body(body, f"{location}/requestBody", mark) if body is not None else None,
        success_criteria=_criteria(data.get("successCriteria"), f"{location}/successCriteria", mark),
        on_success=_list(data.get("onSuccess"), f"{location}/onSuccess", _success_action, mark),
        on_failure=_list(data.get("onFailure"), f"{location}/onFailure", _failure_action, mark),
        outputs=_outputs(data.get("outputs"), mark),
        x_security=tuple(e for e in data.get("x-security") or () if isinstance(e, dict)),
        channel_path=data.get("channelPath"),
        action=data.get("action"),
        correlation_id=data.get("correlationId"),
        timeout=data.get("timeout"),
        depends_on=tuple(data.get("dependsOn") or ()),
    )


def _list(items: list[Any] | None, location: str, build: Any, mark: Mark) -> tuple[Any, ...] | None:
    if items is None:
        return None
    return tuple(build(item, f"{location}/{index}", mark) for index, item in enumerate(items))


def _outputs(outputs: dict[str, Any] | None, mark: Mark) -> dict[str, Any]:
    return {name: mark(value) for name, value in (outputs or {}).items()}


def _reusable(data: dict[str, Any], location: str, mark: Mark) -> ReusableRef:
    return ReusableRef(
        reference=data["reference"],
        value=mark(data.get("value")),
        has_value="value" in data,
        location=location,
    )


def _parameter(data: dict[str, Any], location: str, mark: Mark) -> Parameter | ReusableRef:
    if "reference" in data:
        return _reusable(data, location, mark)
    return Parameter(
        name=data["name"],
        value=mark(data.get("value")),
        in_=cast("ParameterIn | None", data.get("in")),
        location=location,
    )


def _success_action(data: dict[str, Any], location: str, mark: Mark) -> SuccessAction | ReusableRef:
    if "reference" in data:
        return _reusable(data, location, mark)
    return SuccessAction(
        name=data["name"],
        type=data["type"],
        workflow_id=data.get("workflowId"),
        step_id=data.get("stepId"),
        criteria=_criteria(data.get("criteria"), f"{location}/criteria", mark),
        location=location,
        parameters=_list(data.get("parameters"), f"{location}/parameters", _parameter, mark) or (),
    )


def _failure_action(data: dict[str, Any], location: str, mark: Mark) -> FailureAction | ReusableRef:
    if "reference" in data:
        return _reusable(data, location, mark)
    retry_after = data.get("retryAfter")
    return FailureAction(
        name=data["name"],
        type=data["type"],
        workflow_id=data.get("workflowId"),
        step_id=data.get("stepId"),
        retry_after=float(retry_after) if retry_after is not None else None,
        retry_limit=data.get("retryLimit"),
        criteria=_criteria(data.get("criteria"), f"{location}/criteria", mark),
        location=location,
        parameters=_list(data.get("parameters"), f"{location}/parameters", _parameter, mark) or (),
    )


def _criteria(items: list[dict[str, Any]] | None, location: str, mark: Mark) -> tuple[Criterion, ...]:
    minor = "1.0" if mark is _literal else "1.1"  # a 1.1 document marks its Selector Objects
    return tuple(_criterion(item, f"{location}/{index}", minor) for index, item in enumerate(items or ()))


def _criterion(data: dict[str, Any], location: str, minor: str) -> Criterion:
    kind = data.get("type", "simple")
    version = data.get("version")  # the flattened Criterion Expression Type form the schema also accepts
    if isinstance(kind, dict):  # the Criterion Expression Type Object form (1.0.1 "Criterion Object")
        version = kind.get("version")
        kind = kind["type"]
    return Criterion(
        condition=data["condition"],
        context=data.get("context"),
        type=cast(CriterionType, kind),
        version=version,
        location=location,
        minor=minor,
    )


def _request_body(data: dict[str, Any], location: str, mark: Mark) -> RequestBody:
    return RequestBody(
        content_type=data.get("contentType"),
        payload=mark(data.get("payload")),
        has_payload="payload" in data,
        replacements=tuple(
            PayloadReplacement(
                target=item["target"],
                value=mark(item["value"]),
                location=f"{location}/replacements/{i}",
                target_selector_type=item.get("targetSelectorType"),
            )
            for i, item in enumerate(data.get("replacements") or ())
        ),
        location=location,
    )
