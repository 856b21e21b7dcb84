"""An Arazzo 1.0.1 workflow runner. Never imports ``totpflow.server``.

Module map (dependencies point down; ``expressions`` and ``criteria`` are pure)::

    engine        Runner: the step loop (params → request → successCriteria → onSuccess/onFailure → outputs),
                  sub-workflows, dependsOn, retry/goto/end, budgets. Builds ``results.RunResult``.
    reports/      terminal (rich), JSON, JUnit XML, HAR 1.2 renderings of a RunResult
    inputs        lazy input resolution (given / computed / prompted) + JSON Schema validation of inputs
    security      credentials per source, applied from the OpenAPI securitySchemes
    params, body  OpenAPI parameter serialisation (style/explode); request bodies (JSON, form, multipart,
                  text/XML) and payload replacements
    masking       one Masker that every recorded request/response/output passes through
    sources       OpenAPI / Arazzo source descriptions: operationId / operationPath → Operation
    validation    the rounds of checks (read → schema → semantics → sources → operations) that ``load`` and
                  ``totpflow validate`` run; each reports every problem it finds, once the earlier ones pass
    document/     load (YAML/JSON) → JSON Schema + semantic validation → frozen model
    criteria      Criterion → CheckResult: simple | regex | jsonpath (RFC 9535) | xpath
    expressions/  runtime expressions: lexer → parser → AST → evaluate; {$…} templates; JSON Pointer;
                  the `simple` condition language
    results       RunResult / WorkflowResult / StepResult / Exchange records
    errors        the error tree

Internal API contracts between these modules:

expressions (package ``totpflow.arazzo.expressions``)::

    class Message(msgspec.Struct, frozen=True):        # a request or response as expressions see it
        headers: Headers      # case-insensitive mapping (Headers(pairs)); .get(name) -> str | None
        query: Mapping[str, Any]; path: Mapping[str, Any]   # the parameter values given
        body: Any             # parsed JSON value; str for text/XML; None when empty

    class EvaluationContext(Protocol):     # what an expression may read; raise EvaluationError if absent
        def url(self) -> str | None
        def method(self) -> str | None
        def status_code(self) -> int | None
        def request(self) -> Message | None
        def response(self) -> Message | None
        def input(self, name: str) -> Any              # may resolve lazily (prompt, computed)
        def input_absent(self, name: str) -> bool      # optional, not given, no default: left out of payloads
        def output(self, name: str) -> Any             # $outputs.x of the current workflow
        def step_output(self, step_id: str, name: str) -> Any
        def workflow_value(self, workflow_id: str, kind: Literal["inputs", "outputs"], name: str) -> Any
        def source_description(self, name: str, field: str) -> Any
        def component(self, kind: str, name: str) -> Any
        def document_identity(self) -> str | None     # 1.1 $self: the document's absolute identity

    parse(text) -> Expression                   # whole runtime expression "$…"; ExpressionError(position)
        Expression.text; .evaluate(ctx) -> Any (type-preserving); .warnings (non-spec forms accepted)
    parse_template(text) -> Template            # "Bearer {$steps.login.outputs.token}"; .render(ctx) -> str
    compile_value(value) -> Compiled            # payloads, parameter values, outputs, replacement values:
        # a str that is one whole expression → its value (type kept); a str with {$…} → rendered string;
        # dict/list → recursively; anything else → literal.   .evaluate(ctx) -> Any; .expressions() -> list
    pointer.resolve(value, pointer) -> Any; pointer.replace(value, pointer, new) -> Any   (RFC 6901)
        # PointerError (an EvaluationError); replace returns a copy, never mutates
    parse_condition(text) -> Condition          # the `simple` language; .evaluate(ctx, *, only_true) -> bool
        Condition.explain(ctx, mask=None, *, only_true=False) -> (bool, why-it-failed | None)
        # only_true (Arazzo 1.1): only a result that is `true` passes; .expressions; .warnings

criteria::

    compile_criterion(criterion: document.model.Criterion) -> CompiledCriterion   # ConditionError w/ location
        CompiledCriterion.evaluate(ctx, *, mask=None) -> results.CheckResult   # mask: str -> str for messages
        .expressions (tuple, context first); .warnings

document (package ``totpflow.arazzo.document``)::

    load_document(ref: str, *, client: httpx.Client | None = None) -> ArazzoDocument
        # file path or http(s) URL; YAML (C loader) or JSON; LoadError, or DocumentInvalid(problems) after the
        # JSON Schema check and the document-local semantic checks (unique ids, targets, expressions parse)

validation::

    validate(ref, *, client=None, skip_sources=False) -> Validation(ref, round, problems, warnings, document,
        sources)          # round: the first round that found problems ("read", "schema", "semantics",
                          # "sources", "operations"), None when valid; .raise_problems()

sources::

    SourceSet.load(doc, *, client=None) -> SourceSet   # loads every source description once (cached by URL)
    SourceSet.load_all(doc, *, client=None) -> (SourceSet, [LoadError])   # every unreadable source reported
        .openapi_sources() -> {name: LoadedSource}       # what --server / --auth may name
        .resolve_operation(step) -> Operation            # OperationNotFound (with the step's location)
        .resolve_workflow(ref, doc) -> tuple[ArazzoDocument, Workflow]   # "wf" or "$sourceDescriptions.x.wf"
        .source(name) -> LoadedSource(name, url, type, content)
    Operation(source_name, operation_id, method, path, servers, parameters: tuple[OperationParameter, ...],
              request_content_types, security: tuple[dict[str, list[str]], ...], security_schemes: dict,
              responses: dict)
    OperationParameter(name, in_, style, explode, required, allow_reserved, schema)

params / body / security / masking / inputs / reports: see each module's docstring.

engine::

    Runner(document, sources, *, client: httpx.Client | Sender, options: RunOptions).run(workflow_id=None, …)
        -> RunResult
    Loaded.check_options(options)   # UsageError for a server or credential naming no OpenAPI source, a server
                                    # URL that is not http(s)://host…, an undeclared security scheme

senders (package ``totpflow.arazzo.senders``): the HTTP seam of the engine::

    Sender.build(method, url, headers, content, timeout) -> Outgoing   # .method .url .headers as sent
    Sender.send(outgoing) -> Reply(status_code, headers, content, http_version)   # HttpFailure: no response
    HttpxSender(httpx.Client) | PlainSender() (http.client, http:// only) | RoutingSender() (the default)
"""

# The public API, imported on first use (PEP 562) so that ``import totpflow.arazzo.errors`` stays light.
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from totpflow.arazzo.api import Loaded, load
    from totpflow.arazzo.engine import PromptRequest, Runner, RunOptions

__all__ = ["Loaded", "PromptRequest", "RunOptions", "Runner", "load"]
_LAZY = {
    "Loaded": "api",
    "load": "api",
    "PromptRequest": "engine",
    "RunOptions": "engine",
    "Runner": "engine",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"totpflow.arazzo.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'totpflow.arazzo' has no attribute {name!r}")
