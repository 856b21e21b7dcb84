"""Use cases of the server. Every function takes its collaborators (store, clock, cipher, settings) through
``Deps`` and returns domain records from ``totpflow.server.domain.models`` or raises
``totpflow.server.errors``.

The HTTP layer has already checked JSON types (strict: ``"60"`` is not an int); services check meaning
(ranges, formats, existence, ownership by the calling project) and enforce every cross-process invariant in
the database (conditional UPDATEs, constraints), never in process memory.

CONTRACT (implemented in the modules of this package, re-exported here):

    @dataclass(frozen=True)
    class Deps:
        store: Storage          # totpflow.server.storage.protocol.Storage (a Store)
        clock: Callable[[], datetime]   # aware UTC
        cipher: Cipher          # totpflow.server.crypto.Cipher (AES-GCM under the master key + keyed hashes)
        policy: Policy = Policy()   # totpflow.server.policy: lock threshold/ttl, issuer, JWT lifetime, ranges

    # projects
    create_project(deps, *, name="totpflow", project_id=None, secret=None)
        -> tuple[Project, str]                                                      # returns the secret once
    ensure_project(deps, *, project_id, secret, name="totpflow") -> Project        # idempotent; sets secret
    authenticate_project(deps, project_id: str, secret: str) -> Project             # UnauthorizedCredentials
    remembered_project(deps, project_id: str, secret: str) -> Project | None        # no I/O: a hint only
    remembered_credential(deps, project_id, secret) -> Credential | None            # no I/O: a hint only
    authenticate_credential(deps, project_id, secret) -> Credential                 # UnauthorizedCredentials
    run_as(deps, credential, service, *args, **kwargs)   # service(deps, project, …), the credential confirmed
                                                         # in its first transaction
    any_project_exists(deps) -> bool
    create_first_project(deps, *, name="totpflow") -> tuple[Project, str] | None  # once per empty store
    reset_project_secret(deps, project_id: str) -> str                             # the new secret, once
    issue_process_secret(deps, project_id) -> str / withdraw_process_secret(deps, project_id)
                                                   # a secret only this process's server accepts

    # users
    create_user(deps, project, *, email=None, phone_number=None, name: Name|None=None, attributes=None,
                create_user_as_pending=False, trusted_metadata=None, untrusted_metadata=None,
                external_id=None, roles=None) -> User
    get_user(deps, project, user_id: str) -> User                 # user_id or external_id
    update_user(deps, project, user_id: str, *, name: NameUpdate|None=None, attributes=None,
                trusted_metadata=None, untrusted_metadata=None, external_id=None, roles=None) -> User
    delete_user(deps, project, user_id: str) -> str               # returns user_id; revokes its sessions
    search_users(deps, project, *, query: dict|None, limit: int|None=None, cursor: str|None=None)
                -> UserPage                                   # limit None or 0: the default, 100
    delete_totp(deps, project, totp_id: str) -> User

    # totps
    create_totp(deps, project, *, user_id: str, expiration_minutes: int|None=None) -> TotpCreated
    authenticate_totp(deps, project, *, user_id, totp_code, session_token=None, session_jwt=None,
                      session_duration_minutes=None, session_custom_claims=None) -> AuthResult
    get_recovery_codes(deps, project, *, user_id) -> tuple[User, list[TotpRecoveryCodes]]
    recover(deps, project, *, user_id, recovery_code, session_token=None, session_jwt=None,
            session_duration_minutes=None, session_custom_claims=None) -> AuthResult

    # sessions
    authenticate_session(deps, project, *, session_token=None, session_jwt=None,
                         session_duration_minutes=None, session_custom_claims=None) -> AuthResult
    revoke_session(deps, project, *, session_id=None, session_token=None, session_jwt=None) -> None
    get_sessions(deps, project, *, user_id: str) -> list[Session]
    get_jwks(deps, project_id: str) -> list[dict[str, object]]    # ProjectNotFound; no auth needed
    rotate_signing_key(deps, project_id: str, *, publish_for: timedelta|None=None) -> keys.Rotation
                                            # published now, signs after the delay; RotationPending
    list_project_ids(deps, limit: int) -> list[str]

    # rbac (stytch-rbac-users-sessions.md §1)
    get_rbac_policy(deps, project) -> rbac.Policy                 # RbacPolicyUnreadable (500) if corrupt
    set_rbac_policy(deps, project_id, document) -> rbac.Policy    # InvalidRbacPolicy, ProjectNotFound
    show_rbac_policy(deps, project_id) -> rbac.Policy             # ProjectNotFound
    authenticate_session(..., authorization_check=AuthorizationCheck(resource_id, action))
        -> AuthResult with granting_roles; SessionAuthorizationError (403) when no role grants it

    # rate limits (called by authenticate_totp and recover)
    rate_limits.check(deps, project, user_id: str) -> None        # RateLimited (429 too_many_requests)

NOTES: session tokens are stored only as keyed hashes, so ``authenticate_session`` (and a TOTP/recover call)
given only a ``session_jwt`` returns ``session_token=""``; wrong codes, unknown or used recovery codes count
towards the user lock; ``get_recovery_codes`` lists the live TOTP's unused codes (``TotpNotFound`` if none).
"""

from __future__ import annotations

from totpflow.server.policy import Policy
from totpflow.server.services.credentials import (
    Credential,
    authenticate_credential,
    confirm,
    remembered_credential,
    run_as,
)
from totpflow.server.services.deps import Deps
from totpflow.server.services.keys import get_jwks, rotate_signing_key
from totpflow.server.services.projects import (
    any_project_exists,
    authenticate_project,
    create_first_project,
    create_project,
    ensure_project,
    issue_process_secret,
    list_project_ids,
    remembered_project,
    reset_project_secret,
    withdraw_process_secret,
)
from totpflow.server.services.rbac import AuthorizationCheck
from totpflow.server.services.rbac import get_policy as get_rbac_policy
from totpflow.server.services.rbac import set_policy as set_rbac_policy
from totpflow.server.services.rbac import show_policy as show_rbac_policy
from totpflow.server.services.sessions import authenticate_session, get_sessions, revoke_session
from totpflow.server.services.totps import authenticate_totp, create_totp, get_recovery_codes, recover
from totpflow.server.services.user_search import search_users
from totpflow.server.services.users import (
    create_user,
    delete_totp,
    delete_user,
    get_user,
    update_user,
)

# The use cases the server runs on its event loop's own thread, suspended wherever they would wait
# (``Storage.run_on_loop``, docs/reliability.md): those of one user, whose statements are point lookups and
# writes of a few rows. The others (a search over a project's users, the RBAC policy, the operator's
# commands) run in a thread, where a statement whose length depends on the data does not hold up the loop.
ON_LOOP: frozenset[object] = frozenset[object](
    (
        create_user,
        get_user,
        update_user,
        delete_user,
        create_totp,
        delete_totp,
        authenticate_totp,
        recover,
        get_recovery_codes,
        authenticate_session,
        get_sessions,
        revoke_session,
    )
)

__all__ = [
    "ON_LOOP",
    "AuthorizationCheck",
    "Credential",
    "Deps",
    "Policy",
    "any_project_exists",
    "authenticate_credential",
    "authenticate_project",
    "authenticate_session",
    "authenticate_totp",
    "confirm",
    "create_first_project",
    "create_project",
    "create_totp",
    "create_user",
    "delete_totp",
    "delete_user",
    "ensure_project",
    "get_jwks",
    "get_rbac_policy",
    "get_recovery_codes",
    "get_sessions",
    "get_user",
    "issue_process_secret",
    "list_project_ids",
    "recover",
    "remembered_credential",
    "remembered_project",
    "reset_project_secret",
    "revoke_session",
    "rotate_signing_key",
    "run_as",
    "search_users",
    "set_rbac_policy",
    "show_rbac_policy",
    "update_user",
    "withdraw_process_secret",
]
