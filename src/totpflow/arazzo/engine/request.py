"""One HTTP attempt of an operation step: shape the request, send it with the injected client, record it.

Request shaping follows the Arazzo 1.0.1 "Step Object" and "Request Body Object": parameter values (runtime
expressions, ``{$…}`` templates or literals) are serialised per the OpenAPI parameter's ``style``/``explode``
(``params``), credentials come from the operation's security requirements (``security``; an explicit
``Authorization`` header parameter wins), and the payload is evaluated, has its ``replacements`` applied and
is encoded for its content type (``body``; the operation's first media type when ``contentType`` is absent).

Responses are parsed as JSON when the content type is ``application/json`` or any ``+json`` type (RFC 6839
§3.1), else kept as text; an empty body is ``None``. Every recorded header and body passes through the
``Masker``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

import msgspec

from totpflow.arazzo import body as bodies
from totpflow.arazzo import params
from totpflow.arazzo.errors import ExecutionError, TransportError
from totpflow.arazzo.expressions import Headers, Message
from totpflow.arazzo.masking import Masker
from totpflow.arazzo.results import Exchange, RecordedRequest, RecordedResponse
from totpflow.arazzo.security import Credential, apply_security, apply_x_security, x_security_credential
from totpflow.arazzo.senders import HttpFailure, Outgoing, Reply, Sender

if TYPE_CHECKING:
    from totpflow.arazzo.document.model import RequestBody, Step
    from totpflow.arazzo.engine.context import StepContext
    from totpflow.arazzo.engine.options import RunOptions
    from totpflow.arazzo.engine.plan import Plan, StepPlan
    from totpflow.arazzo.sources import Operation


def with_replacements(
    payload: Any, body: RequestBody, content_type: str | None, ctx: StepContext, plan: Plan
) -> Any:
    """``payload`` with the body's ``replacements`` applied, their values evaluated against ``ctx``: an HTTP
    request body and an AsyncAPI send step's message alike."""
    if not body.replacements:
        return payload
    pairs = [(r.target, plan.value(r, r.value).evaluate(ctx)) for r in body.replacements]
    kinds = [r.target_selector_type for r in body.replacements]
    return bodies.apply_replacements(payload, pairs, content_type, kinds)


class Prepared(msgspec.Struct):
    """A request ready to send, and how expressions see it."""

    request: Outgoing
    message: Message
    body_text: str | None
    content_type: str | None
    # a form's or multipart body's charsets other than UTF-8 (``bodies.masked_charsets``), in which its
    # secrets are masked in the bytes (``content``, kept only then) before they are read back as text
    charsets: tuple[str, ...] = ()
    content: bytes | None = None


class Attempt(msgspec.Struct):
    """One sent request and what came back. The ``Exchange`` record is built by ``record`` after the step's
    outputs are known, so a value the caller declared secret is masked in the response that carried it."""

    prepared: Prepared
    started_at: datetime
    elapsed_ms: float
    response: Reply | None
    message: Message | None  # the response as expressions see it
    error: str | None = None
    timed_out: bool = False  # no response within the request's timeout

    @property
    def status(self) -> int | None:
        return None if self.response is None else self.response.status_code

    @property
    def retry_after(self) -> str | None:
        return None if self.message is None else self.message.headers.get("retry-after")

    def record(self, masker: Masker) -> Exchange:
        """The attempt's ``Exchange``, built when first read. Values under sensitive keys of a JSON response
        are registered with ``masker`` now, so they are masked wherever they show up later in the run."""
        response, message = self.response, self.message
        if response is not None and message is not None and isinstance(message.body, dict | list):
            if masker.may_need_json_masking(response.content):
                masker.mask_json(message.body)
        error = None if self.error is None else masker.mask_text(self.error)
        return Exchange.deferred(partial(_record, self, masker), self.started_at, self.elapsed_ms, error)


def _record(attempt: Attempt, masker: Masker) -> tuple[RecordedRequest, RecordedResponse | None]:
    recorded = None
    if attempt.response is not None:
        message = attempt.message if attempt.message is not None else Message()
        recorded = record_response(attempt.response, message, masker)
    return record_request(attempt.prepared, masker), recorded


def base_url(operation: Operation, servers: Mapping[str, str]) -> str:
    """The server a request goes to: the ``--server SOURCE=URL`` override, else the operation's first
    server."""
    override = servers.get(operation.source_name)
    if override:
        return override.rstrip("/")
    if not operation.servers:
        raise ExecutionError(f"source {operation.source_name!r} declares no server; pass a server URL for it")
    return str(operation.servers[0]).rstrip("/")


def x_security_entries(
    step: Step, operation: Operation, ctx: StepContext, plan: Plan
) -> list[tuple[str, Mapping[str, Any], Credential]]:
    """Redocly's ``x-security`` entries of a step, their values evaluated (a ``schemeName`` names one of
    the operation's ``securitySchemes``; ``scheme`` is an inline one)."""
    entries: list[tuple[str, Mapping[str, Any], Credential]] = []
    for index, entry in enumerate(step.x_security):
        name = str(entry.get("schemeName", ""))
        scheme = entry.get("scheme") if not name else operation.security_schemes.get(name)
        if not isinstance(scheme, Mapping):
            raise ExecutionError(f"{step.location}/x-security/{index}: unknown security scheme {name!r}")
        values = plan.value(entry, entry.get("values") or {}, "x-security").evaluate(ctx)
        if not isinstance(values, Mapping):
            raise ExecutionError(f"{step.location}/x-security/{index}/values: must be an object")
        entries.append((name, scheme, x_security_credential(scheme, values)))
    return entries


def prepare(
    step: Step,
    step_plan: StepPlan,
    ctx: StepContext,
    plan: Plan,
    sender: Sender,
    options: RunOptions,
    masker: Masker,
) -> Prepared:
    """Evaluate the step's parameters and body against ``ctx`` and build the request (EvaluationError,
    ExecutionError when a value cannot be produced)."""
    operation = step_plan.operation
    assert operation is not None
    parts = params.RequestParts()
    values = step_plan.values
    if values is None:
        values = tuple(plan.value(p, p.value) for p in step_plan.parameters)
    given: dict[str, dict[str, Any]] = {"query": {}, "path": {}}  # $request.query.x / .path.x: the values
    for spec, value in zip(step_plan.specs, values, strict=True):
        evaluated = value.evaluate(ctx)
        spec.serialize(evaluated, parts)
        if evaluated is not None and spec.in_ in given:
            given[spec.in_][spec.name] = evaluated
    if step.x_security:
        parts.extend(
            apply_x_security(x_security_entries(step, operation, ctx, plan), explicit=parts, masker=masker)
        )
    if options.credentials is not None:
        extra = apply_security(
            operation.security,
            operation.security_schemes,
            options.credentials.for_source(operation.source_name),
            explicit=parts,
            masker=masker,
        )
        parts.extend(extra)

    content: bytes | None = None
    content_type: str | None = None
    payload: Any = None
    body_text: str | None = None
    charsets: tuple[str, ...] = ()
    request_body = step.request_body
    if request_body is not None and request_body.has_payload:
        payload = plan.value(request_body, request_body.payload).evaluate(ctx)
        content_type = bodies.choose_content_type(request_body, operation.request_content_types)
        payload = with_replacements(payload, request_body, content_type, ctx, plan)
        encodings = (
            operation.request_encodings.get(bodies.media_type(content_type))
            if operation.request_encodings
            else None
        )
        content, content_type = bodies.encode_body(content_type, payload, encodings=encodings)
        if content is not None:
            charsets = bodies.masked_charsets(content_type, encodings)
            body_text = content.decode(bodies.record_charset(content_type), "replace")

    headers = list(parts.headers)
    if parts.cookies:
        headers.append(("Cookie", params.cookie_header(parts.cookies)))
    if content_type is not None:
        if not parts.has_header("content-type"):
            headers.append(("Content-Type", content_type))
        elif "boundary=" in content_type:  # a multipart type the step names itself needs the body's boundary
            headers = [
                (name, bodies.with_boundary(value, content_type) if name.lower() == "content-type" else value)
                for name, value in headers
            ]
    url = base_url(operation, options.servers) + params.expand_path(operation.path, parts.path_params)
    if parts.querystring is not None:
        joined = params.query_string(parts.query)
        query_text = parts.querystring + ("&" + joined if joined and parts.querystring else joined)
        if query_text:
            url = f"{url}?{query_text}"
    elif parts.query:
        url = f"{url}?{params.query_string(parts.query)}"
    try:
        request = sender.build(operation.method.upper(), url, headers, content, options.timeout)
    except HttpFailure as exc:
        raise ExecutionError(f"the request cannot be built: {exc.message}") from None
    # A parameter the step gives reads as its value (its type kept); one a security scheme adds (an API key in
    # the query) as the text sent, decoded.
    query = {unquote(name): unquote(text) for name, text in parts.query} | given["query"]
    path = {name: unquote(text) for name, text in parts.path_params.items()} | given["path"]
    message = Message(Headers.of_text(headers), query, path, payload)
    return Prepared(request, message, body_text, content_type, charsets, content if charsets else None)


def record_request(prepared: Prepared, masker: Masker) -> RecordedRequest:
    request = prepared.request
    return RecordedRequest(
        method=request.method,
        url=masker.mask_url(request.url),
        headers=masker.mask_headers(request.headers),
        body=None if prepared.body_text is None else _masked_body(prepared, masker),
        content_type=prepared.content_type,
    )


def _masked_body(prepared: Prepared, masker: Masker) -> str:
    """A request body as recorded: a JSON body masked as a response's is (the values of sensitive keys, and
    secrets however the JSON escapes them), any other by its text."""
    text = prepared.body_text
    assert text is not None
    if prepared.content is not None:  # its secrets as the charsets write them
        # a form or multipart body, read back as UTF-8 (``bodies.record_charset``)
        text = masker.mask_bytes(prepared.content, prepared.charsets).decode("utf-8", "replace")
    if bodies.is_json(prepared.content_type or "") and ("\\" in text or masker.may_need_json_masking(text)):
        try:
            return msgspec.json.encode(masker.mask_json(msgspec.json.decode(text))).decode()
        except (msgspec.DecodeError, RecursionError):  # not JSON after all, or nested too deeply to walk
            pass
    return masker.mask_text(text)


def parse_body(response: Reply, headers: Headers) -> Any:
    """JSON for ``application/json`` and ``*+json`` (RFC 6839), text otherwise (in the ``charset`` of the
    content type, UTF-8 when it names none); None when empty."""
    raw = response.content
    if not raw:
        return None
    content_type = headers.get("content-type") or ""
    declared = bodies.charset(content_type)
    codec = "utf-8" if declared is None else bodies.text_codec(declared)  # None: no text encoding Python has
    if bodies.is_json(content_type):
        try:
            return msgspec.json.decode(raw)
        except msgspec.DecodeError:
            return raw.decode(codec or "utf-8", "replace")
    try:
        if codec is not None:
            return raw.decode(codec)
    except UnicodeDecodeError:
        pass
    return f"<{len(raw)} bytes of {bodies.media_type(content_type) or 'binary data'}>"


def send(step_id: str, prepared: Prepared, sender: Sender, started_at: datetime) -> Attempt:
    """Send once; a timeout or connection failure becomes the attempt's error, never an exception."""
    begin = time.perf_counter()
    try:
        response = sender.send(prepared.request)
    except HttpFailure as exc:
        elapsed = (time.perf_counter() - begin) * 1000
        problem = TransportError(step_id, exc.message)
        return Attempt(prepared, started_at, elapsed, None, None, str(problem), exc.timeout)
    elapsed = (time.perf_counter() - begin) * 1000
    headers = Headers.of_text(response.headers)
    message = Message(headers, {}, {}, parse_body(response, headers))
    return Attempt(prepared, started_at, elapsed, response, message)


def record_response(response: Reply, message: Message, masker: Masker) -> RecordedResponse:
    body = message.body
    if body is None:
        text = None
    elif isinstance(body, str):
        text = masker.mask_text(body)
    else:
        raw = response.content.decode("utf-8", "replace")  # a parsed body is JSON, which is UTF-8 (RFC 8259)
        # An escape ("\\/", "\\u0041") can spell a secret the raw text does not show: the parsed strings do.
        if "\\" in raw or masker.may_need_json_masking(raw):
            text = msgspec.json.encode(masker.mask_json(body)).decode()
        else:
            text = masker.mask_text(raw)
    return RecordedResponse(
        status_code=response.status_code,
        headers=masker.mask_headers(message.headers.pairs),
        body=text,
        content_type=message.headers.get("content-type"),
        http_version=response.http_version,
    )
