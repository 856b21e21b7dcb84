"""The HAR 1.2 report (``--har FILE``): every HTTP exchange of the run, for browser dev tools and HAR viewers.

Public API::

    to_har(result, *, masker=None) -> dict      {"log": {...}}
    write_har(result, path, *, masker=None) -> None

Follows the HAR 1.2 specification (Jan Odvarko, "HTTP Archive (HAR) format", W3C Web Performance WG draft):
``log`` {version "1.2", creator {name "totpflow", version}, entries}; one entry per ``Exchange`` (every
attempt of every step, in run order) with ``startedDateTime`` (ISO 8601 with zone), ``time``, ``request``
{method, url, httpVersion, cookies, headers, queryString, postData?, headersSize, bodySize}, ``response``
{status, statusText, httpVersion, cookies, headers, content {size, mimeType, text?}, redirectURL, headersSize,
bodySize}, ``cache`` {} and ``timings`` {send, wait, receive} (plus blocked/dns/connect = -1, "not
applicable").

The runner measures one duration per exchange, so the whole of it is reported as ``wait`` (send and receive
0): the spec requires ``time`` to equal the sum of the non-negative timings. Header and body sizes are -1 (not
known) except ``bodySize``, the UTF-8 length of the recorded body. An exchange that got no response (timeout,
connection error) has ``status`` 0 and its error in ``_error``, as browsers record aborted requests. Custom
fields start with ``_`` as the spec requires: ``_workflowId``, ``_stepId``, ``_attempt``.
"""

from __future__ import annotations

import json
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from totpflow import __version__
from totpflow.arazzo.masking import Masker
from totpflow.arazzo.reports.jsonable import write_json_text
from totpflow.arazzo.reports.masked import mask_result
from totpflow.arazzo.results import Exchange, RecordedRequest, RecordedResponse, RunResult

HAR_VERSION = "1.2"


def _pairs(headers: tuple[tuple[str, str], ...]) -> list[dict[str, str]]:
    return [{"name": name, "value": value} for name, value in headers]


def _header(headers: tuple[tuple[str, str], ...], wanted: str) -> str | None:
    for name, value in headers:
        if name.lower() == wanted:
            return value
    return None


def request_cookies(headers: tuple[tuple[str, str], ...]) -> list[dict[str, Any]]:
    cookies: list[dict[str, Any]] = []
    for name, value in headers:
        if name.lower() == "cookie":
            for pair in value.split(";"):
                key, sep, item = pair.strip().partition("=")
                if sep:
                    cookies.append({"name": key, "value": item})
    return cookies


def response_cookies(headers: tuple[tuple[str, str], ...]) -> list[dict[str, Any]]:
    cookies: list[dict[str, Any]] = []
    for name, value in headers:
        if name.lower() != "set-cookie":
            continue
        first, *attributes = [part.strip() for part in value.split(";")]
        key, _, item = first.partition("=")
        cookie: dict[str, Any] = {"name": key, "value": item}
        for attribute in attributes:
            attr, _, attr_value = attribute.partition("=")
            lower = attr.lower()
            if lower in ("path", "domain"):
                cookie[lower] = attr_value
            elif lower == "expires":
                cookie["expires"] = attr_value
            elif lower == "httponly":
                cookie["httpOnly"] = True
            elif lower == "secure":
                cookie["secure"] = True
        cookies.append(cookie)
    return cookies


def _size(text: str | None) -> int:
    return 0 if text is None else len(text.encode("utf-8"))


def _request(request: RecordedRequest) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "method": request.method,
        "url": request.url,
        "httpVersion": "HTTP/1.1",
        "cookies": request_cookies(request.headers),
        "headers": _pairs(request.headers),
        "queryString": [
            {"name": name, "value": value}
            for name, value in parse_qsl(urlsplit(request.url).query, keep_blank_values=True)
        ],
        "headersSize": -1,
        "bodySize": _size(request.body),
    }
    if request.body is not None:
        mime = request.content_type or _header(request.headers, "content-type") or "application/octet-stream"
        # HAR 1.2 postData: "text and params fields are mutually exclusive"; the text is what was sent.
        entry["postData"] = {"mimeType": mime, "text": request.body}
    return entry


def _status_text(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def _response(response: RecordedResponse | None, error: str | None) -> dict[str, Any]:
    if response is None:
        return {
            "status": 0,
            "statusText": "",
            "httpVersion": "",
            "cookies": [],
            "headers": [],
            "content": {"size": 0, "mimeType": "x-unknown"},
            "redirectURL": "",
            "headersSize": -1,
            "bodySize": -1,
            "_error": error or "no response",
        }
    mime = response.content_type or _header(response.headers, "content-type") or "x-unknown"
    content: dict[str, Any] = {"size": _size(response.body), "mimeType": mime}
    if response.body is not None:
        content["text"] = response.body
    return {
        "status": response.status_code,
        "statusText": _status_text(response.status_code),
        "httpVersion": response.http_version,
        "cookies": response_cookies(response.headers),
        "headers": _pairs(response.headers),
        "content": content,
        "redirectURL": _header(response.headers, "location") or "",
        "headersSize": -1,
        "bodySize": _size(response.body),
    }


def har_entry(exchange: Exchange, workflow_id: str, step_id: str, attempt: int) -> dict[str, Any]:
    elapsed = round(max(exchange.elapsed_ms, 0.0), 3)
    return {
        "startedDateTime": exchange.started_at.isoformat(),
        "time": elapsed,
        "request": _request(exchange.request),
        "response": _response(exchange.response, exchange.error),
        "cache": {},
        "timings": {"blocked": -1, "dns": -1, "connect": -1, "send": 0, "wait": elapsed, "receive": 0},
        "_workflowId": workflow_id,
        "_stepId": step_id,
        "_attempt": attempt,
    }


def to_har(result: RunResult, *, masker: Masker | None = None) -> dict[str, Any]:
    result = mask_result(result, masker)
    entries = [
        har_entry(exchange, workflow.workflow_id, step.step_id, attempt)
        for workflow in result.workflows
        for step in workflow.steps
        for attempt, exchange in enumerate(step.exchanges, 1)
    ]
    return {
        "log": {
            "version": HAR_VERSION,
            "creator": {"name": "totpflow", "version": __version__},
            "entries": entries,
            "comment": f"Arazzo run of {result.document}",
        }
    }


def write_har(result: RunResult, path: str | Path, *, masker: Masker | None = None) -> None:
    text = json.dumps(to_har(result, masker=masker), indent=2, ensure_ascii=False)
    write_json_text(path, text + "\n")
