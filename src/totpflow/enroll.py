"""Enroll an authenticator app: run the shipped TOTP-enrollment workflow through the Arazzo runner against a
Stytch-compatible server — the embedded one on the local store, a ``totpflow serve`` process, or Stytch.

The workflow (``arazzo/totp-enrollment.arazzo.yaml``) creates the user, creates the TOTP registration and
authenticates its first code. The code comes from the person at the terminal (after the QR code the server
returned is drawn) or, unattended, is computed from the secret the second step returned. Two situations the
workflow alone cannot handle are handled here, with plain API calls:

* a wrong code: the person gets another try, until the server's user lock answers 429;
* a second attempt with the same email after an interrupted one: the user exists with a registration that was
  never confirmed. Interactively, the pending registration can be finished with a code from the app that
  scanned it; with ``restart`` the unconfirmed user is deleted and the enrollment starts over. A user with a
  confirmed authenticator is never touched.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import httpx

    from totpflow.arazzo import Loaded, PromptRequest
    from totpflow.arazzo.results import RunResult, StepResult
    from totpflow.server import services

WORKFLOW_FILE = "totp-enrollment.arazzo.yaml"
WORKFLOW_ID = "totp-enrollment"
SOURCE = "stytchConsumerApi"


class EnrollError(Exception):
    """Enrollment could not complete; the message says why and what to do."""


@dataclass(frozen=True)
class Target:
    """Where to enroll: a server's base URL and a project's credentials."""

    base_url: str
    project_id: str
    secret: str = field(repr=False)


@dataclass(frozen=True)
class CodeRequest:
    """What the code reader is told before it asks for a code."""

    attempt: int  # 1 for the first code
    qr_text: str | None  # the otpauth:// URI to draw, when there is one to scan
    message: str | None = None  # why another code is needed


@dataclass(frozen=True)
class Enrollment:
    user_id: str
    totp_id: str
    session_token: str = field(repr=False)
    session_jwt: str = field(repr=False)
    recovery_codes: tuple[str, ...] = field(repr=False)
    resumed: bool = False
    # The TOTP's base32 secret when this run created the registration (None when a pending one was finished).
    totp_secret: str | None = field(default=None, repr=False)

    def as_json(self, *, with_totp_secret: bool = False) -> dict[str, Any]:
        """The enrollment for ``--json``; ``with_totp_secret`` adds ``totpSecret`` (an unattended enrollment
        has no app: the secret is the only way to produce another code)."""
        data: dict[str, Any] = {
            "userId": self.user_id,
            "totpId": self.totp_id,
            "sessionToken": self.session_token,
            "sessionJwt": self.session_jwt,
            "recoveryCodes": list(self.recovery_codes),
            "resumed": self.resumed,
        }
        if with_totp_secret:
            data["totpSecret"] = self.totp_secret
        return data


CodeReader = Callable[[CodeRequest], str]


def workflow_path() -> Path:
    """The shipped workflow: beside the sources in a checkout, or the copy installed with the package."""
    here = Path(__file__).resolve()
    for candidate in (
        here.parents[2] / "arazzo" / WORKFLOW_FILE,
        here.parent / "_data" / "arazzo" / WORKFLOW_FILE,
    ):
        if candidate.is_file():
            return candidate
    raise EnrollError(f"the workflow {WORKFLOW_FILE} is not installed with this copy of totpflow")


@dataclass(frozen=True)
class EmbeddedServer:
    """The embedded server: where to enroll, and the project's secret when this run created the project."""

    target: Target
    created_secret: str | None = field(default=None, repr=False)  # shown once by the caller, never again


class ProjectNotChosen(EnrollError):
    """The store's project cannot be chosen without the person's help (several projects, or an unknown one
    named); the message lists what there is."""


@contextlib.contextmanager
def embedded_server(
    database_url: str | None = None,
    environ: Mapping[str, str] | None = None,
    *,
    project_id: str | None = None,
    master_key_file: str | None = None,
) -> Iterator[EmbeddedServer]:
    """The server in this process, on a free loopback port, over the default (or given) store.

    It serves the store's default project, the one ``totpflow serve`` and the operator commands use:
    ``project_id`` (else ``$TOTPFLOW_PROJECT_ID``, made sure of with ``$TOTPFLOW_PROJECT_SECRET`` when both
    are set, as ``serve`` does), else the store's only project, else a new one whose secret is returned
    once in ``created_secret``. Enrollment talks to its own server with a secret that only this process
    accepts (``services.issue_process_secret``): the project's stored secret is never changed. The master
    key is found as ``serve`` finds it, ``master_key_file`` (``--master-key-file``) first.
    """
    import uvicorn

    from totpflow.server import services
    from totpflow.server.app import create_app
    from totpflow.server.config import PROJECT_ID_ENV, PROJECT_SECRET_ENV, Settings, display_url
    from totpflow.server.services.master_key import verify_master_key
    from totpflow.server.wiring import build_deps

    env = os.environ if environ is None else environ
    settings = Settings.load(env, database_url=database_url, master_key_file=master_key_file)
    deps = build_deps(settings)
    try:
        verify_master_key(deps)  # before any user is created: a wrong key would stop the enrollment half-way
        chosen, created_secret = _default_project(
            deps,
            display_url(settings.database_url),
            project_id,
            env.get(PROJECT_ID_ENV),
            env.get(PROJECT_SECRET_ENV),
        )
    except BaseException:
        deps.store.dispose()
        raise
    secret = services.issue_process_secret(deps, chosen)
    app = create_app(settings, deps)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on"))
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, daemon=True, name="totpflow-server"
    )
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise EnrollError("the embedded server did not start")
            time.sleep(0.01)
        yield EmbeddedServer(Target(f"http://127.0.0.1:{port}", chosen, secret), created_secret)
    finally:
        services.withdraw_process_secret(deps, chosen)
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def _default_project(
    deps: services.Deps, shown: str, named: str | None, env_id: str | None, env_secret: str | None
) -> tuple[str, str | None]:
    """The project the embedded server enrolls into, and its secret when it was created just now."""
    from totpflow.server import services
    from totpflow.server.services import admin

    project_id = named or env_id
    if project_id and env_secret and project_id == env_id:
        services.ensure_project(deps, project_id=project_id, secret=env_secret)
        return project_id, None
    if not project_id:
        created = services.create_first_project(deps)
        if created is not None:
            return created[0].project_id, created[1]
    known = admin.list_projects(deps)
    if project_id:
        if not any(p.project_id == project_id for p in known):
            raise ProjectNotChosen(f"no project {project_id!r} in {shown}")
        return project_id, None
    if len(known) > 1:
        listed = "".join(f"\n  {p.project_id}  {p.name}" for p in known)
        raise ProjectNotChosen(f"the database has {len(known)} projects; name one with --project-id:{listed}")
    return known[0].project_id, None


def load_workflow() -> Loaded:
    """The shipped workflow, loaded; :class:`EnrollError` when it or its OpenAPI source cannot be (a copy
    of totpflow installed without them, or with them edited)."""
    from totpflow.arazzo import load
    from totpflow.arazzo.errors import DocumentError

    path = workflow_path()
    try:
        return load(str(path))
    except DocumentError as exc:
        raise EnrollError(f"the shipped workflow {path} cannot be loaded: {exc}") from None


def enroll(
    target: Target,
    email: str,
    *,
    read_code: CodeReader | None,
    session_minutes: int | None = None,
    restart: bool = False,
    loaded: Loaded | None = None,
    client: httpx.Client | None = None,
) -> Enrollment:
    """Enroll ``email``'s authenticator app. ``read_code=None`` runs unattended (the code is computed)."""
    if client is not None:
        return _enroll(client, target, email, read_code, session_minutes, restart, loaded or load_workflow())
    import httpx

    from totpflow.arazzo.senders.transport import new_client

    try:
        http = new_client(timeout=30)
    except httpx.ProxyError as exc:
        raise EnrollError(str(exc)) from None
    with http:
        return _enroll(http, target, email, read_code, session_minutes, restart, loaded or load_workflow())


def _enroll(
    http: httpx.Client,
    target: Target,
    email: str,
    read_code: CodeReader | None,
    session_minutes: int | None,
    restart: bool,
    loaded: Loaded,
) -> Enrollment:
    api = _Api(http, target)
    result = _run(loaded, target, email, read_code, session_minutes, http)
    failed = _failed_step(result)
    if failed is None:
        return _from_result(result)
    body = _last_body(failed)
    if failed.step_id == "createUser" and body.get("error_type") == "duplicate_email":
        user = api.user_by_email(email)
        pending = [t for t in user.get("totps", []) if not t.get("verified")]
        if any(t.get("verified") for t in user.get("totps", [])):
            raise EnrollError(
                f"{email} already has a confirmed authenticator (user {user['user_id']}); to enroll a new "
                f"one, first delete that user with `totpflow users delete {user['user_id']}` on the "
                "server's store"
            )
        if pending and read_code is not None and not restart:
            return _resume(api, user["user_id"], pending[0]["totp_id"], read_code, session_minutes)
        if not restart:
            raise EnrollError(
                f"{email} has an enrollment that was never confirmed (user {user['user_id']}); run again "
                "with --restart to delete that unconfirmed user and start over"
                + ("" if read_code is None else ", or finish it with a code from the app that scanned it")
            )
        api.delete_user(user["user_id"])
        result = _run(loaded, target, email, read_code, session_minutes, http)
        failed = _failed_step(result)
        if failed is None:
            return _from_result(result)
        body = _last_body(failed)
    if failed.step_id == "authenticateTotp" and read_code is not None and _status(failed) == 401:
        steps = {s.step_id: s for s in result.workflows[0].steps}
        user_id = str(steps["createUser"].outputs["userId"])
        totp_id = str(steps["createTotp"].outputs["totpId"])
        codes = tuple(steps["createTotp"].outputs.get("recoveryCodes") or ())
        return _retry_codes(api, user_id, totp_id, codes, read_code, session_minutes, attempt=2)
    raise EnrollError(_describe(failed, body))


def _run(
    loaded: Loaded,
    target: Target,
    email: str,
    read_code: CodeReader | None,
    session_minutes: int | None,
    http: httpx.Client,
) -> RunResult:
    from totpflow.arazzo import RunOptions
    from totpflow.arazzo.masking import CREDENTIAL_FIELDS, Masker
    from totpflow.arazzo.security import Credential, Credentials

    credentials = Credentials()
    credentials.add(SOURCE, None, Credential("basic", target.secret, username=target.project_id))
    inputs: dict[str, Any] = {"email": email}
    if session_minutes is not None:
        inputs["session_duration_minutes"] = session_minutes
    computed = {} if read_code is not None else {"totp_code": "totp($steps.createTotp.outputs.secret)"}

    def prompt(request: PromptRequest) -> str:
        assert read_code is not None
        qr = _qr_text(request.recent_outputs)
        return read_code(CodeRequest(attempt=1, qr_text=qr))

    options = RunOptions(
        servers={SOURCE: target.base_url},
        credentials=credentials,
        prompt=prompt if read_code is not None else None,
        secret_inputs=frozenset({"totp_code"}),
        # Enrollment hands the session token and recovery codes to the person enrolling: only the
        # project's credentials are masked in what the run records.
        masker=Masker(sensitive_fields=CREDENTIAL_FIELDS),
    )
    return loaded.run(WORKFLOW_ID, inputs=inputs, computed=computed, options=options, client=http)


def _qr_text(recent_outputs: tuple[tuple[str, Mapping[str, Any]], ...]) -> str | None:
    from totpflow import qrterm

    for _step, outputs in recent_outputs:
        for value in outputs.values():
            if isinstance(value, str) and value.startswith("data:image/"):
                return qrterm.decode_data_uri(value)
            if isinstance(value, str) and value.startswith("otpauth://"):
                return value
    return None


def _failed_step(result: RunResult) -> StepResult | None:
    if result.ok:
        return None
    for step in result.workflows[0].steps if result.workflows else ():
        if not step.ok:
            return step
    raise EnrollError(result.workflows[0].error if result.workflows else "the workflow did not run")


def _status(step: StepResult) -> int | None:
    if step.exchanges and step.exchanges[-1].response is not None:
        return step.exchanges[-1].response.status_code
    return None


def _last_body(step: StepResult) -> dict[str, Any]:
    if step.exchanges and step.exchanges[-1].response is not None and step.exchanges[-1].response.body:
        try:
            body = json.loads(step.exchanges[-1].response.body)
        except ValueError:
            return {}
        return body if isinstance(body, dict) else {}
    return {}


def _describe(step: StepResult, body: Mapping[str, Any]) -> str:
    status = _status(step)
    if body.get("error_message"):
        return f"step {step.step_id} failed: {status} {body.get('error_type')}: {body['error_message']}"
    return f"step {step.step_id} failed: {step.error or status}"


def _from_result(result: RunResult) -> Enrollment:
    workflow = result.workflows[0]
    steps = {s.step_id: s for s in workflow.steps}
    return Enrollment(
        user_id=str(workflow.outputs["userId"]),
        totp_id=str(workflow.outputs["totpId"]),
        session_token=str(workflow.outputs.get("sessionToken") or ""),
        session_jwt=str(steps["authenticateTotp"].outputs.get("sessionJwt") or ""),
        recovery_codes=tuple(steps["createTotp"].outputs.get("recoveryCodes") or ()),
        totp_secret=str(steps["createTotp"].outputs.get("secret") or "") or None,
    )


def _resume(
    api: _Api, user_id: str, totp_id: str, read_code: CodeReader, session_minutes: int | None
) -> Enrollment:
    codes = api.recovery_codes(user_id)
    message = (
        "this email has an unconfirmed authenticator registration; enter a code from the app that scanned it"
    )
    return _retry_codes(
        api, user_id, totp_id, codes, read_code, session_minutes, attempt=1, message=message, resumed=True
    )


def _retry_codes(
    api: _Api,
    user_id: str,
    totp_id: str,
    recovery_codes: tuple[str, ...],
    read_code: CodeReader,
    session_minutes: int | None,
    *,
    attempt: int,
    message: str = "that code was not accepted; check the app and try the current code",
    resumed: bool = False,
) -> Enrollment:
    while True:
        code = read_code(CodeRequest(attempt=attempt, qr_text=None, message=message)).strip()
        status, body = api.authenticate(user_id, code, session_minutes)
        if status == 200:
            return Enrollment(
                user_id=user_id,
                totp_id=str(body.get("totp_id") or totp_id),
                session_token=str(body.get("session_token") or ""),
                session_jwt=str(body.get("session_jwt") or ""),
                recovery_codes=recovery_codes,
                resumed=resumed,
            )
        if status == 429:
            raise EnrollError(f"too many wrong codes: {body.get('error_message', 'the user is locked')}")
        if status not in (400, 401):
            raise EnrollError(
                f"authenticate failed: {status} {body.get('error_type')}: {body.get('error_message')}"
            )
        message = str(body.get("error_message") or "that code was not accepted")
        attempt += 1


class _Api:
    """The few direct calls enrollment makes beside the workflow."""

    def __init__(self, http: httpx.Client, target: Target) -> None:
        self._http = http
        self._base = target.base_url.rstrip("/")
        self._auth = (target.project_id, target.secret)

    def _call(
        self, method: str, path: str, body: Mapping[str, Any] | None = None
    ) -> tuple[int, dict[str, Any]]:
        response = self._http.request(method, self._base + path, json=body, auth=self._auth)
        try:
            data = response.json()
        except ValueError:
            data = {}
        return response.status_code, data if isinstance(data, dict) else {}

    def user_by_email(self, email: str) -> dict[str, Any]:
        query = {"operator": "AND", "operands": [{"filter_name": "email_address", "filter_value": [email]}]}
        status, body = self._call("POST", "/v1/users/search", {"limit": 1, "query": query})
        results = body.get("results") or []
        if status != 200 or not results:
            raise EnrollError(f"{email} is taken, but the user could not be found ({status})")
        user: dict[str, Any] = results[0]
        return user

    def delete_user(self, user_id: str) -> None:
        status, body = self._call("DELETE", f"/v1/users/{user_id}")
        if status != 200:
            raise EnrollError(f"could not delete the unconfirmed user: {status} {body.get('error_type')}")

    def recovery_codes(self, user_id: str) -> tuple[str, ...]:
        status, body = self._call("POST", "/v1/totps/recovery_codes", {"user_id": user_id})
        if status != 200:
            return ()
        for totp in body.get("totps") or []:
            return tuple(totp.get("recovery_codes") or ())
        return ()

    def authenticate(
        self, user_id: str, code: str, session_minutes: int | None
    ) -> tuple[int, dict[str, Any]]:
        body: dict[str, Any] = {"user_id": user_id, "totp_code": code}
        if session_minutes is not None:
            body["session_duration_minutes"] = session_minutes
        return self._call("POST", "/v1/totps/authenticate", body)
