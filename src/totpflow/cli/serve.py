"""``totpflow serve``: run the Stytch-compatible server (``totpflow.server``) under uvicorn.

At start it prints where the database is (never a password or key). With ``TOTPFLOW_PROJECT_ID`` and
``TOTPFLOW_PROJECT_SECRET`` set it makes sure that project exists with that secret (idempotent); otherwise,
when the database has no project at all, it creates the store's default project (the one ``totpflow enroll``
uses too) and prints its id and secret, once; when it has, it names it and how to give it a new secret.
``--print-openapi`` writes the server's OpenAPI document as YAML and exits (this is how
``openapi/stytch-consumer-openapi.yml`` is regenerated).

While it runs, one structured line per request goes to stderr (``totpflow.server.http.access_log``: JSON by
default, ``--log-format text``, none with ``--quiet``); it never holds a query string, header or body. The
server's own messages (uvicorn's included) use the same format. The listening socket is bound before anything
says it listens, so a busy port is an error (exit code 2) naming it; so is a store that cannot be opened
(what failed to connect, where and why). With ``--workers N`` the workers share that socket, and their
metrics add up (``totpflow.server.http.metrics``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import sys
import tempfile
from typing import TYPE_CHECKING, Any

BACKLOG = 2048  # as uvicorn's default

if TYPE_CHECKING:
    from totpflow.server import services
    from totpflow.server.config import Settings


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="run the Stytch-compatible server",
        description="Run the Stytch-compatible server (users, TOTP, recovery codes, sessions, JWKS).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000)")
    parser.add_argument(
        "--database-url",
        help="sqlite:///PATH or postgresql://USER@HOST:PORT/DB (default: $TOTPFLOW_DATABASE_URL, else a "
        "SQLite file in the user's data directory)",
    )
    parser.add_argument(
        "--master-key-file",
        metavar="PATH",
        help="file holding the master key (created 0600 if missing; default: $TOTPFLOW_MASTER_KEY, "
        "$TOTPFLOW_MASTER_KEY_FILE, else on SQLite a .key file beside the database)",
    )
    parser.add_argument(
        "--rsa-key-size",
        type=int,
        metavar="BITS",
        help="bits of new session-JWT signing keys: 2048, 3072 or 4096 (default 2048 or "
        "$TOTPFLOW_RSA_KEY_SIZE)",
    )
    parser.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    parser.add_argument(
        "--lock-threshold",
        type=int,
        help="failed TOTP/recovery attempts before a user is locked (1-100; default 10 or "
        "$TOTPFLOW_LOCK_THRESHOLD)",
    )
    parser.add_argument(
        "--rate-limit-user",
        metavar="N/PERIOD",
        help="authenticate/recover requests per user_id and fixed window, e.g. 30/60s, or off "
        "(default 60/60s or $TOTPFLOW_RATE_LIMIT_USER)",
    )
    parser.add_argument(
        "--rate-limit-project",
        metavar="N/PERIOD",
        help="authenticate/recover requests per project and fixed window, e.g. 5000/1m, or off (default off "
        "or $TOTPFLOW_RATE_LIMIT_PROJECT)",
    )
    parser.add_argument(
        "--log-format",
        choices=("json", "text"),
        help="format of every log line on stderr: requests and the server's own messages (default json, or "
        "$TOTPFLOW_LOG_FORMAT)",
    )
    parser.add_argument(
        "--quiet", action="store_true", help="write no request log; only warnings and errors, as text"
    )
    parser.add_argument(
        "--rotate-keys-every",
        metavar="DURATION",
        help="start a signing-key rollover of every project this often, e.g. 90d (longer than the key "
        "publication delay; default off, or $TOTPFLOW_ROTATE_KEYS_EVERY)",
    )
    parser.add_argument(
        "--key-publish-for",
        metavar="DURATION",
        help="how long a new signing key of a --rotate-keys-every rollover is published before it signs "
        "(default 1h, or $TOTPFLOW_KEY_PUBLISH_FOR)",
    )
    parser.add_argument(
        "--key-retention",
        metavar="DURATION",
        help="how long a retired signing key stays published and verifying, at least 5m (default 30d, or "
        "$TOTPFLOW_KEY_RETENTION)",
    )
    parser.add_argument(
        "--print-openapi", action="store_true", help="print the OpenAPI document as YAML and exit"
    )
    parser.set_defaults(handler=run)


def say(line: str) -> None:
    """One line on stdout, flushed at once (the output is often a log file read while the server runs)."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def serving_line(project_ids: list[str]) -> str:
    """What ``serve`` says about a store whose projects already exist (their secrets cannot be shown)."""
    if len(project_ids) == 1:
        return (
            f"totpflow serve: project {project_ids[0]} (its secret was shown when it was created; "
            f"`totpflow project reset-secret {project_ids[0]}` gives it a new one)"
        )
    return "totpflow serve: several projects (`totpflow project list`, `totpflow project reset-secret ID`)"


def fail(message: str) -> int:
    sys.stderr.write(f"totpflow serve: {message}\n")
    return 2


def run(args: argparse.Namespace) -> int:
    if args.print_openapi:
        from totpflow.server.openapi import document_yaml

        sys.stdout.write(document_yaml())
        return 0

    from totpflow.server import errors, services
    from totpflow.server.config import (
        LOG_FORMAT_ENV,
        PROJECT_ID_ENV,
        PROJECT_SECRET_ENV,
        Settings,
        check_project_secret,
        display_url,
        key_beside_database,
    )
    from totpflow.server.errors import ConfigError

    try:
        settings = Settings.load(
            os.environ,
            database_url=args.database_url,
            host=args.host,
            port=args.port,
            workers=args.workers,
            lock_threshold=args.lock_threshold,
            rate_limit_user=args.rate_limit_user,
            rate_limit_project=args.rate_limit_project,
            log_format="off" if args.quiet else (args.log_format or os.environ.get(LOG_FORMAT_ENV, "json")),
            rotate_keys_every=args.rotate_keys_every,
            key_publish_for=args.key_publish_for,
            key_retention=args.key_retention,
            rsa_key_size=args.rsa_key_size,
            master_key_file=args.master_key_file,
        )
        project_id = os.environ.get(PROJECT_ID_ENV)
        secret = os.environ.get(PROJECT_SECRET_ENV)
        if bool(project_id) != bool(secret):
            return fail(f"set both {PROJECT_ID_ENV} and {PROJECT_SECRET_ENV}, or neither")
        if secret:
            check_project_secret(secret)
    except ConfigError as exc:
        return fail(str(exc))
    if key_beside_database(settings):
        import logging

        from totpflow.server.http import access_log

        access_log.configure(settings.log_format)  # the warning is a log line in the log's format
        logging.getLogger(access_log.SERVER_LOGGER_NAME + ".settings").warning(
            "the master key file %s is in the database's folder, so one copy of that folder holds both the "
            "encrypted data and the key to it; keep the key elsewhere with --master-key-file PATH (or "
            "TOTPFLOW_MASTER_KEY_FILE, or TOTPFLOW_MASTER_KEY)",
            settings.master_key_file,
        )

    from totpflow.server.services.master_key import verify_master_key
    from totpflow.server.wiring import build_deps

    try:
        deps = build_deps(settings)
    except ConfigError as exc:  # StoreUnavailable among them: what failed to connect, where and why
        return fail(str(exc))
    try:
        verify_master_key(deps)
    except ConfigError as exc:
        deps.store.dispose()
        return fail(str(exc))
    say(f"totpflow serve: database {display_url(settings.database_url)}")
    try:
        if project_id and secret:
            services.ensure_project(deps, project_id=project_id, secret=secret)
        else:
            created = services.create_first_project(deps)
            if created is not None:
                say(f"created project {created[0].project_id}")
                say(f"project secret (shown only now): {created[1]}")
            else:
                say(serving_line(services.list_project_ids(deps, 2)))
    except errors.InvalidArgument as exc:
        deps.store.dispose()
        return fail(f"{PROJECT_ID_ENV}/{PROJECT_SECRET_ENV}: {exc.field} is invalid")

    try:
        sock = listening_socket(settings.host, settings.port)
    except OSError as exc:
        deps.store.dispose()
        return fail(f"cannot listen on {settings.host}:{settings.port}: {exc.strerror or type(exc).__name__}")
    host = f"[{settings.host}]" if ":" in settings.host else settings.host  # an IPv6 address in a URL
    say(f"totpflow serve: listening on http://{host}:{settings.port}")
    return serve(settings, deps, sock)


def listening_socket(host: str, port: int) -> socket.socket:
    """The server's socket, bound here (as uvicorn would bind it) so that a busy port is an error before
    anything claims to listen; the workers inherit it."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(BACKLOG)  # connections wait here from "listening on" until uvicorn accepts them
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def serve(settings: Settings, deps: services.Deps, sock: socket.socket) -> int:
    """Run uvicorn on ``sock``: the app in this process, or ``settings.workers`` processes that each build it
    from the environment (uvicorn's factory mode). uvicorn's own log lines use the request log's format."""
    import uvicorn

    from totpflow.server.app import create_app
    from totpflow.server.config import (
        KEY_PUBLISH_FOR_ENV,
        KEY_RETENTION_ENV,
        LOCK_THRESHOLD_ENV,
        LOG_FORMAT_ENV,
        RATE_LIMIT_PROJECT_ENV,
        RATE_LIMIT_USER_ENV,
        ROTATE_KEYS_EVERY_ENV,
        RSA_KEY_SIZE_ENV,
        rate_limit_text,
    )
    from totpflow.server.crypto import MASTER_KEY_ENV, MASTER_KEY_FILE_ENV
    from totpflow.server.dbfile import DATABASE_URL_ENV
    from totpflow.server.http import access_log
    from totpflow.server.http.metrics import MULTIPROC_ENV
    from totpflow.server.http.protocol import PROTOCOL
    from totpflow.server.memory import limit_malloc_arenas
    from totpflow.server.supervision import SUPERVISOR_PID_ENV

    limit_malloc_arenas()
    common: dict[str, Any] = {
        "access_log": False,
        "http": PROTOCOL,
        "log_config": access_log.logging_config(settings.log_format),
    }
    if settings.workers == 1:
        server = uvicorn.Server(uvicorn.Config(create_app(settings, deps), **common))
        server.run(sockets=[sock])
        return 0 if server.started else 1
    from totpflow.server.supervisor import Supervisor

    deps.store.dispose()
    # A worker loads the app through create_worker_app: stopped while it loads, it ends at once. The
    # supervisor answers SIGINT and SIGTERM from here on, before anything of the run is made.
    config = uvicorn.Config(
        "totpflow.server.supervision:create_worker_app", factory=True, workers=settings.workers, **common
    )
    supervisor = Supervisor(config, sockets=[sock])
    # prometheus-client's multiprocess mode: each worker keeps its metrics in files of a directory private to
    # this run (set before the workers import the library), removed when the server stops.
    metrics_dir = tempfile.mkdtemp(prefix="totpflow-metrics-")
    os.environ[MULTIPROC_ENV] = metrics_dir
    os.environ[DATABASE_URL_ENV] = settings.database_url
    os.environ[LOCK_THRESHOLD_ENV] = str(settings.policy.lock_threshold)
    os.environ[RATE_LIMIT_USER_ENV] = rate_limit_text(settings.policy.rate_limit_user)
    os.environ[RATE_LIMIT_PROJECT_ENV] = rate_limit_text(settings.policy.rate_limit_project)
    os.environ[LOG_FORMAT_ENV] = settings.log_format
    every = settings.policy.rotate_keys_every
    os.environ[ROTATE_KEYS_EVERY_ENV] = "off" if every is None else f"{int(every.total_seconds())}s"
    os.environ[KEY_PUBLISH_FOR_ENV] = f"{int(settings.policy.key_publication_delay.total_seconds())}s"
    os.environ[KEY_RETENTION_ENV] = f"{int(settings.policy.key_retention.total_seconds())}s"
    os.environ[RSA_KEY_SIZE_ENV] = str(settings.policy.rsa_key_size)
    if settings.master_key_file is not None and not os.environ.get(MASTER_KEY_ENV):
        os.environ[MASTER_KEY_FILE_ENV] = str(settings.master_key_file)
    os.environ[SUPERVISOR_PID_ENV] = str(os.getpid())  # the workers end with this process, however it ends
    try:
        supervisor.run()
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)
    return 0
