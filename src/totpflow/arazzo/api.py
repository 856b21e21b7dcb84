"""The runner's public library API: load a document once, run its workflows many times.

Example::

    from totpflow.arazzo import RunOptions, load

    loaded = load("arazzo/totp-enrollment.arazzo.yaml")           # parsed, validated, sources loaded
    result = loaded.run(
        "totp-enrollment",
        inputs={"email": "ada@example.com"},
        computed={"totp_code": "totp($steps.createTotp.outputs.secret)"},
        options=RunOptions(servers={"stytchConsumerApi": "http://127.0.0.1:8000"}),
    )
    result.ok, result.workflows[0].outputs

``load`` does all parsing and checking (JSON Schema, semantic checks, source descriptions, operations
resolve); ``Loaded.run`` only executes. Compiled expressions and resolved steps are cached on the ``Loaded``
object, so a second run parses nothing. For tests, inject the HTTP layer:
``loaded.run(client=httpx.Client(transport=httpx.MockTransport(handler)))`` (or any ``senders.Sender``).
Without a client a run sends with a ``senders.RoutingSender``: plain ``http://`` through the standard
library's ``http.client``, ``https`` and proxied requests through httpx.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from totpflow.arazzo.engine import Plan, Runner, RunOptions
from totpflow.arazzo.senders import Sender, as_sender

if TYPE_CHECKING:
    import httpx

    from totpflow.arazzo.document.model import ArazzoDocument
    from totpflow.arazzo.inputs import Computation
    from totpflow.arazzo.results import RunResult
    from totpflow.arazzo.sources import SourceSet


@dataclass(eq=False)
class Loaded:
    """A validated document with its sources; reusable for any number of runs."""

    ref: str
    document: ArazzoDocument
    sources: SourceSet
    warnings: tuple[str, ...] = ()
    plan: Plan = field(init=False, repr=False)
    _wrapped: tuple[Any, Sender] | None = field(init=False, repr=False, default=None)
    # Steps whose operation has no http(s) server, by source (``check_servers``), found on the first run.
    _serverless: dict[str, str] | None = field(init=False, repr=False, default=None)

    def __post_init__(self) -> None:
        self.plan = Plan(self.sources)

    def _sender(self, client: Any) -> Sender:
        """The ``Sender`` for ``client``; an httpx.Client is wrapped once for all the runs that pass it."""
        wrapped = self._wrapped
        if wrapped is not None and wrapped[0] is client:
            return wrapped[1]
        sender = as_sender(client)
        self._wrapped = (client, sender)
        return sender

    def scheme_names(self) -> dict[str, list[str]]:
        """The named security schemes of every OpenAPI source a step can call (source → scheme names)."""
        from totpflow.arazzo.sources.openapi import security_schemes

        return {
            name: list(security_schemes(source.content))
            for name, source in self.sources.openapi_sources().items()
        }

    def check_options(self, options: RunOptions | None) -> None:
        """UsageError when ``options`` sets a server or credentials for a name that is no OpenAPI source of
        the run, a server URL the runner cannot send to, or credentials for an undeclared security scheme
        (``sources.overrides``); nothing has been sent."""
        if options is None:
            return
        from totpflow.arazzo.security import Credentials

        credentials = options.credentials
        given = isinstance(credentials, Credentials)
        sources = credentials.sources() if given else []
        if not (options.servers or sources or options.broker_credentials):
            return  # nothing names a source (the common run, and every run of a loaded document's caller)
        from totpflow.arazzo.sources.overrides import check_overrides

        schemes = credentials.schemes() if given else []
        check_overrides(
            self.sources.openapi_sources(),
            options.servers,
            [*sources, *options.broker_credentials],
            schemes,
            self.scheme_names() if schemes else None,
            brokers=self.sources.asyncapi_sources(),
        )
        if given:
            from totpflow.arazzo.security import check_source_credential
            from totpflow.arazzo.sources.openapi import security_schemes

            for name, source in self.sources.openapi_sources().items():
                default = credentials.for_source(name).default
                if default is not None:
                    check_source_credential(name, default, security_schemes(source.content))

    def check_servers(self, options: RunOptions | None) -> None:
        """UsageError when a step calls an operation that has no ``http``/``https`` server and its source no
        ``servers`` override: a description that names no server gets OpenAPI's default ``/``, which resolves
        against the description's own location, a file, where no request can go. Nothing has been sent."""
        from totpflow.arazzo.errors import UsageError

        if self._serverless is None:
            self._serverless = self._steps_without_a_server()
        overrides = options.servers if options is not None else {}
        for name, location in self._serverless.items():
            if not overrides.get(name):
                raise UsageError(
                    f"source {name!r} names no http(s) server for {location} (its description gives none): "
                    f"give one with --server {name}=URL"
                )

    def _steps_without_a_server(self) -> dict[str, str]:
        """The first step, by source, whose operation's first server is no ``http(s)`` URL."""
        from totpflow.arazzo.errors import ArazzoError

        found: dict[str, str] = {}
        for doc in self.sources.documents():
            for workflow in doc.workflows:
                for step in workflow.steps:
                    if step.workflow_id is not None or step.action is not None:
                        continue
                    try:
                        operation = self.sources.resolve_operation(step, doc)
                    except ArazzoError:  # reported by validation, or where the step runs
                        continue
                    server = str(operation.servers[0]) if operation.servers else ""
                    if not server.lower().startswith(("http://", "https://")):
                        found.setdefault(operation.source_name, step.location)
        return found

    def run(
        self,
        workflow_id: str | None = None,
        *,
        inputs: Mapping[str, Any] | None = None,
        computed: Mapping[str, str | Computation] | None = None,
        options: RunOptions | None = None,
        client: httpx.Client | Sender | None = None,
    ) -> RunResult:
        """Run one workflow (with its dependencies) or, when ``workflow_id`` is None, every workflow in
        document order. InputError when required inputs are missing (before any request); UsageError for an
        unknown workflow, a malformed computation, or a server or credential ``check_options`` refuses. A
        workflow failure is reported in the result, never raised."""
        self.check_options(options)
        self.check_servers(options)
        if client is None:
            from totpflow.arazzo.senders import RoutingSender

            sender: httpx.Client | Sender = RoutingSender()
        else:
            sender = self._sender(client)
        try:
            runner = Runner(
                self.document, self.sources, client=sender, options=options, plan=self.plan, ref=self.ref
            )
            return runner.run(workflow_id, inputs, computed)
        finally:
            if client is None:
                sender.close()  # the default sender's connections


def load(ref: str, *, client: httpx.Client | None = None) -> Loaded:
    """Load, validate and resolve a document (file path or http(s) URL), in the rounds of
    ``totpflow.arazzo.validation``. Raises ``LoadError`` or ``DocumentInvalid`` (every problem of the first
    round that found any, with its location) — nothing is sent."""
    from totpflow.arazzo.validation import validate

    validation = validate(ref, client=client)
    validation.raise_problems()
    document, sources = validation.document, validation.sources
    assert document is not None and sources is not None
    return Loaded(ref, document, sources, validation.warnings)
