"""``totpflow run``: run the workflows of an Arazzo document and report the results.

Parse arguments → ``totpflow.arazzo.load`` → ``Loaded.run`` → terminal report (+ JSON, JUnit, HAR files) →
exit code: 0 every workflow succeeded, 1 a workflow failed, 2 the document, the command line or the inputs are
invalid (the run does not start). Heavy modules (httpx, jsonschema, rich, yaml, zxing-cpp) are imported inside
the handler so that ``totpflow run --help`` starts fast.
"""

from __future__ import annotations

import argparse
import gc
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from totpflow.cli import _map_self
from totpflow.cli._messages import err as _err

if TYPE_CHECKING:
    from totpflow.arazzo.engine import PromptRequest
    from totpflow.arazzo.results import RunResult

EPILOG = """\
inputs are resolved lazily, on first use: a given value (--inputs FILE, then --input NAME=VALUE), a computed
value, the schema's default, or - when stdin is a terminal and --no-prompt is not given - a prompt (a QR code
an earlier step returned is drawn first). A computed input is evaluated when the workflow first reads it, so
it can use the outputs of earlier steps:

  --compute NAME=EXPR          a runtime expression or {$...} template, e.g.
                               --compute 'user=$steps.createUser.outputs.userId'
  --compute 'NAME=totp(EXPR)'  the current RFC 6238 code of the base32 secret
                               EXPR evaluates to; options:
                               totp(EXPR, digits=8, period=60, algorithm=SHA256)

example (the seed TOTP enrollment, unattended):

  totpflow run arazzo/totp-enrollment.arazzo.yaml --input email=ada@example.com \\
    --compute 'totp_code=totp($steps.createTotp.outputs.secret)' \\
    --server stytchConsumerApi=http://127.0.0.1:8000 \\
    --auth stytchConsumerApi=PROJECT_ID:SECRET

credentials (--auth, repeatable): SOURCE=user:password (HTTP Basic), SOURCE=bearer:TOKEN, SOURCE=VALUE (an
apiKey), SOURCE.SCHEME=VALUE (one named security scheme); or the TOTPFLOW_AUTH_<SOURCE>[_<SCHEME>] variables.
--server and --auth must name an OpenAPI source of the document (and a scheme it declares); a server URL is
http(s)://host[:port][/path]. For an AsyncAPI source, --server names the broker, protocol://host[:port]
(mqtt, amqp, nats, ws, …; amqp://guest:guest@127.0.0.1:5672 carries its credentials), and --auth (or
TOTPFLOW_AUTH_<SOURCE>) is SOURCE=user:password or SOURCE=TOKEN (NATS). Anything else is a command-line error.

exit codes: 0 all workflows succeeded, 1 a workflow failed, 2 invalid document, command line or inputs
(nothing is sent).
"""


MAX_TIMEOUT_SECONDS = 86_400.0  # a day per request: beyond it a deadline stops being a number the clock takes


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "run",
        help="run the workflows of an Arazzo document",
        description=(
            "Run the workflows of an Arazzo 1.0.x or 1.1.0 document against the APIs (OpenAPI) and "
            "brokers (AsyncAPI) it describes."
        ),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("document", metavar="DOC", help="Arazzo document: a file path or an http(s) URL")
    add = parser.add_argument
    add("-w", "--workflow", action="append", default=[], metavar="WORKFLOW_ID", help="run this workflow "
        "(repeatable; default: every workflow, in document order, dependencies first)")  # fmt: skip
    add("--input", action="append", default=[], metavar="NAME=VALUE", help="an input value (repeatable)")
    add("--inputs", action="append", default=[], metavar="FILE", help="inputs from a JSON or YAML file")
    add("--compute", action="append", default=[], metavar="NAME=EXPR", help="a computed input (see below)")
    add(
        "--server",
        action="append",
        default=[],
        metavar="SOURCE=URL",
        help="base URL for a source description",
    )
    add("--auth", action="append", default=[], metavar="SOURCE=CREDENTIAL", help="credentials (see below)")
    _map_self.add_option(add)
    add("--secret-input", action="append", default=[], metavar="NAME", help="mask this input in all output")
    add("--secret-output", action="append", default=[], metavar="NAME", help="mask this output in all output")
    add(
        "--show-secrets",
        action="store_true",
        help="show the tokens, TOTP secrets and recovery codes the API returns (masked by default; "
        "credentials and password inputs stay masked)",
    )
    add("--json-output", metavar="FILE", help="write a JSON report (with outputs)")
    add("--junit", metavar="FILE", help="write a JUnit XML report")
    add("--har", metavar="FILE", help="write every HTTP exchange as a HAR 1.2 file")
    add("--messages", metavar="FILE", help="write every AsyncAPI message sent or received as JSON lines")
    add("--dry-run", action="store_true", help="build the requests but send nothing")
    add(
        "--timeout",
        type=float,
        default=30.0,
        metavar="S",
        help="per-request timeout in seconds, for the whole exchange (default 30, at most 86400)",
    )
    add(
        "--max-steps",
        type=int,
        default=1000,
        metavar="N",
        help="step attempts allowed per run (default 1000)",
    )
    add("--verbose", "-v", action="store_true", help="show requests and responses")
    add("--no-prompt", action="store_true", help="never ask for missing inputs")
    parser.set_defaults(handler=handle)


def _pairs(options: list[str], flag: str) -> dict[str, str]:
    from totpflow.arazzo.errors import UsageError

    pairs: dict[str, str] = {}
    for option in options:
        name, sep, value = option.partition("=")
        if not sep or not name or not value:
            raise UsageError(f"{flag} expects NAME=VALUE, got {option!r}")
        pairs[name] = value
    return pairs


def handle(args: argparse.Namespace) -> int:
    # Start-up (importing the engine, loading the documents) allocates many long-lived objects and no
    # cyclic garbage worth collecting: the cyclic collector is off until the documents are loaded, then
    # back on for the run, over only what the run allocates (about 9 % of the instructions of a short run).
    # `gc.freeze()` keeps what start-up built for the life of the process: this is the command's own process.
    was_enabled = gc.isenabled()

    def started() -> None:
        gc.freeze()  # what start-up built lives to the end: later collections need not walk it
        if was_enabled:
            gc.enable()

    gc.disable()
    try:
        return _handle(args, started)
    finally:
        if was_enabled:
            gc.enable()


def _handle(args: argparse.Namespace, started: Callable[[], None]) -> int:
    from totpflow.arazzo.errors import ArazzoError, DocumentError, DocumentInvalid

    began: list[bool] = []

    def run_began() -> None:
        began.append(True)
        started()

    try:
        return _run(args, run_began)
    except DocumentInvalid as exc:
        for problem in exc.problems:
            _err(f"{problem.location or '/'}: {problem.message}")
        return _refused(args, [(problem.location, problem.message) for problem in exc.problems])
    except DocumentError as exc:
        _err(f"error: {exc}")
        return _refused(args, [(exc.location, exc.message)])
    except ArazzoError as exc:  # UsageError, InputError, a malformed --compute
        _err(f"error: {exc}")
        return _refused(args, [("", str(exc))])
    except OSError as exc:  # a report file that cannot be written
        _err(f"error: {exc.filename or ''}: {exc.strerror or exc}")
        return 2
    except Exception as exc:  # a defect of the runner: said in one line, never a traceback
        _err(f"error: internal error: {type(exc).__name__}: {exc}")
        if began:
            return 1  # requests may have been sent: the run failed
        return _refused(args, [("", f"internal error: {type(exc).__name__}")])


def _refused(args: argparse.Namespace, errors: list[tuple[str, str]]) -> int:
    """Exit 2; ``--json-output`` still gets a report, with the errors and no workflows."""
    if args.json_output:
        from totpflow.arazzo.reports.json_report import write_refusal

        try:
            write_refusal(args.document, errors, args.json_output)
        except OSError as exc:
            _err(f"error: {exc.filename or ''}: {exc.strerror or exc}")
    return 2


def _run(args: argparse.Namespace, started: Callable[[], None]) -> int:
    import os

    from totpflow.arazzo import RunOptions, load
    from totpflow.arazzo.inputs import merge_inputs, parse_compute_option, terminal_prompt
    from totpflow.arazzo.masking import CREDENTIAL_FIELDS, Masker
    from totpflow.arazzo.security import broker_credentials, load_credentials
    from totpflow.arazzo.senders import RoutingSender

    problem = _map_self.apply(args.map_self)
    if problem is not None:
        from totpflow.arazzo.errors import UsageError

        raise UsageError(problem)
    computed = dict(parse_compute_option(option) for option in args.compute)
    servers = _pairs(args.server, "--server")
    given = merge_inputs(args.inputs, args.input)
    if not 0 < args.timeout <= MAX_TIMEOUT_SECONDS or args.max_steps <= 0:  # NaN fails the comparison too
        from totpflow.arazzo.errors import UsageError

        limit = f"{MAX_TIMEOUT_SECONDS:g}"
        raise UsageError(f"--timeout must be in (0, {limit}] seconds and --max-steps positive")
    _check_report_paths(args)
    masker = Masker(sensitive_fields=CREDENTIAL_FIELDS) if args.show_secrets else Masker()
    for url in servers.values():  # a broker URL's user info: a password, or a NATS token alone
        masker.add_url_credentials(url, user_is_token=True)
    with RoutingSender() as sender:
        loaded = load(args.document)
        started()
        for warning in loaded.warnings:
            _err(f"warning: {warning}")
        schemes = loaded.scheme_names()
        http_auth, brokers = broker_credentials(
            args.auth, os.environ, loaded.sources.asyncapi_sources(), masker
        )
        credentials = load_credentials(
            http_auth, os.environ, masker, source_names=list(schemes), scheme_names=schemes
        )
        prompt = None
        if not args.no_prompt and sys.stdin.isatty():
            prompt = terminal_prompt(_draw_qr_codes)
        options = RunOptions(
            servers=servers,
            credentials=credentials,
            broker_credentials=brokers,
            timeout=args.timeout,
            max_steps=args.max_steps,
            masker=masker,
            prompt=prompt,
            secret_inputs=frozenset(args.secret_input),
            secret_outputs=frozenset(args.secret_output),
            dry_run=args.dry_run,
        )
        results = [
            loaded.run(workflow_id, inputs=given, computed=computed, options=options, client=sender)
            for workflow_id in (args.workflow or [None])
        ]
    result = _combine(results)
    _report(result, args, masker, shown_warnings=frozenset(loaded.warnings))
    return 0 if result.ok else 1


def _check_report_paths(args: argparse.Namespace) -> None:
    """UsageError, before anything is sent, for a report file that could not be written afterwards: a
    folder, or in a folder that does not exist or cannot be written."""
    import os
    from pathlib import Path

    from totpflow.arazzo.errors import UsageError

    for flag, value in (
        ("--json-output", args.json_output),
        ("--junit", args.junit),
        ("--har", args.har),
        ("--messages", args.messages),
    ):
        if not value:
            continue
        path = Path(value)
        folder = path.parent
        if path.is_dir():
            raise UsageError(f"{flag} {value}: is a folder")
        if not folder.is_dir():
            raise UsageError(f"{flag} {value}: no folder {str(folder)!r}")
        if not os.access(folder, os.W_OK | os.X_OK) or (path.exists() and not os.access(path, os.W_OK)):
            raise UsageError(f"{flag} {value}: cannot be written")


def _combine(results: list[RunResult]) -> RunResult:
    """Several ``-w`` runs as one result: workflows in order, timings summed."""
    if len(results) == 1:
        return results[0]
    from msgspec.structs import replace

    first = results[0]
    return replace(
        first,
        ok=all(r.ok for r in results),
        workflows=tuple(w for r in results for w in r.workflows),
        elapsed_ms=sum(r.elapsed_ms for r in results),
        warnings=tuple(dict.fromkeys(w for r in results for w in r.warnings)),
    )


def _report(
    result: RunResult, args: argparse.Namespace, masker: Any, *, shown_warnings: frozenset[str] = frozenset()
) -> None:
    """The terminal report, then the report files. The terminal's leaves out the warnings ``shown_warnings``
    already printed when the document was loaded (before the run, so a long run shows them at once); the
    files keep every warning."""
    from msgspec.structs import replace

    from totpflow.arazzo.reports.terminal import render_terminal

    unshown = tuple(warning for warning in result.warnings if warning not in shown_warnings)
    render_terminal(replace(result, warnings=unshown), verbose=args.verbose, masker=masker)
    if args.json_output:
        from totpflow.arazzo.reports.json_report import write_json

        write_json(result, args.json_output, masker=masker)
    if args.junit:
        from totpflow.arazzo.reports.junit import write_junit

        write_junit(result, args.junit, masker=masker)
    if args.har:
        from totpflow.arazzo.reports.har import write_har

        write_har(result, args.har, masker=masker)
    if args.messages:
        from totpflow.arazzo.reports.messages import write_messages

        write_messages(result, args.messages, masker=masker)


# -- QR codes before a prompt (an optional nicety: any failure just skips the drawing) --------------------


def _draw_qr_codes(subject: PromptRequest) -> None:
    """Before asking for an input, draw the QR code the latest step returned (a ``data:image/png;base64,…``
    value or an ``otpauth://`` URI), so the user can scan it into an authenticator app and type the code."""
    for _step_id, outputs in subject.recent_outputs:
        for value in outputs.values():
            drawing = _qr_drawing(value)
            if drawing:  # lines of blocks and text qrterm has made printable
                sys.stderr.write(drawing + "\n")
                return


def _qr_drawing(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    try:
        from totpflow import qrterm

        if value.startswith("data:image/png;base64,"):
            text = qrterm.decode_data_uri(value)
        elif "otpauth://" in value:  # a URI alone or inside a longer text
            text = value[value.index("otpauth://") :].split()[0].strip("\"'<>")
        else:
            return None
        return qrterm.scan_screen(text, qrterm.terminal_size(sys.stderr)) if text else None
    except Exception:  # zxing-cpp or Pillow unavailable, or not a QR code: ask without the drawing
        return None
