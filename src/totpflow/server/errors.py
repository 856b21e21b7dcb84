"""Errors raised by the server's services. They carry facts, never HTTP codes:
``http/errors.py`` holds the one table mapping each class (by MRO) to an HTTP status, a Stytch
``error_type`` and a message.

    ServerError
    ├── BadRequest                      bad_request
    │   ├── InvalidArgument             (field, reason) — a value is well-typed but out of range / malformed
    │   │   ├── InvalidEmail
    │   │   ├── InvalidPhoneNumber
    │   │   ├── InvalidUserId
    │   │   ├── InvalidTotpId
    │   │   ├── InvalidExpiration
    │   │   ├── InvalidSessionDuration
    │   │   ├── InvalidTotpCode         (not 6 digits)
    │   │   ├── InvalidRecoveryCode     (not xxxx-xxxx-xxxx)
    │   │   ├── InvalidExternalId
    │   │   ├── EmailOrPhoneRequired    (a user created with neither)
    │   │   ├── EmptyRoleId             (an RBAC role id that is empty)
    │   │   ├── InvalidRoleId           (an RBAC role id a policy could not define: control characters, …)
    │   │   ├── TooManyRoles            (more explicitly assigned roles than a user may hold)
    │   │   ├── ValueTooLong            (field, limit) — a string longer than the server accepts
    │   │   │   ├── IpAddressTooLong / UserAgentTooLong   (``attributes``)
    │   │   │   ├── RoleIdTooLong
    │   │   │   └── SearchValueTooLong  (a string of a search filter)
    │   │   ├── InvalidSearchQuery      (and one subclass per ``user_search_*`` error type)
    │   │   ├── MetadataTooManyKeys / MetadataTooLarge
    │   │   ├── InvalidCustomClaims     (registered claim names)
    │   │   │   ├── StytchClaimsInCustomClaims   (keys under https://stytch.com/)
    │   │   │   ├── CustomClaimsTooLarge         (more than 4,096 bytes)
    │   │   │   └── UnrepresentableCustomClaims
    │   │   ├── RecoveryCodeUsedAsTotpCode
    │   │   ├── TotpCodeUsedAsRecoveryCode
    │   │   └── InvalidRbacPolicy       (problems: every reason a policy document is refused)
    │   ├── DuplicateEmail
    │   ├── DuplicatePhoneNumber
    │   ├── DuplicateExternalId
    │   ├── ActiveTotpExists
    │   ├── TotpCodeAlreadyAuthenticated
    │   ├── ExpiredTotp
    │   ├── NoActiveRecoveryCodeBackedFactor  (recovery codes of a TOTP never authenticated)
    │   ├── NoSessionArguments / TooManySessionArguments
    │   └── NoSessionRevokeArguments / TooManySessionRevokeArguments
    ├── Unauthorized
    │   ├── UnauthorizedCredentials     (bad/missing Basic auth, unknown project)
    │   ├── InvalidJwt                  (malformed, badly signed, foreign or expired session JWT)
    │   ├── UnableToAuthenticateTotp    (wrong code)
    │   └── UnableToAuthenticateRecoveryCode
    ├── Forbidden
    │   └── SessionAuthorizationError   (authorization_check denied: no role grants the action)
    ├── NotFound
    │   ├── UserNotFound
    │   ├── TotpNotFound
    │   ├── SessionNotFound
    │   └── ProjectNotFound
    ├── IntegrityFailure                a stored secret does not decrypt under its binding (500; logged)
    ├── StoreFailed                     SQLite reported an I/O error or corruption: the process refuses
    │                                   every transaction until it is restarted (500; logged once)
    ├── TooManyRequests
    │   ├── UserLockLimitReached
    │   └── RateLimited                 too_many_requests
    ├── RbacPolicyUnreadable            (a stored policy that does not parse: 500, never an allow)
    ├── KeyRotationRefused              an operator's signing-key rotation is not made (never over HTTP)
    │   ├── ForeignMasterKey            this process's master key does not decrypt the project's key
    │   └── RotationPending             an earlier rollover's key is published and does not sign yet
    ├── BackupFailed                    an operator's backup is not made (``totpflow.server.backup``)
    └── ConfigError                     a setting is missing or malformed (start-up: exit code 2)
        ├── MasterKeyError              the master key is missing or malformed (never quotes key material)
        └── StoreUnavailable            the store cannot be opened: what, where and why (never a password)
"""

from __future__ import annotations

from datetime import datetime


class ServerError(Exception):
    """Base of every error a service raises on purpose."""

    def __init__(self, detail: str = "") -> None:
        super().__init__(detail)
        self.detail = detail


class BadRequest(ServerError):
    pass


class InvalidArgument(BadRequest):
    def __init__(self, field: str, reason: str = "") -> None:
        super().__init__(f"{field}: {reason}" if reason else field)
        self.field = field
        self.reason = reason


class InvalidEmail(InvalidArgument):
    pass


class InvalidPhoneNumber(InvalidArgument):
    pass


class InvalidUserId(InvalidArgument):
    pass


class InvalidTotpId(InvalidArgument):
    pass


class InvalidExpiration(InvalidArgument):
    pass


class InvalidSessionDuration(InvalidArgument):
    pass


class InvalidTotpCode(InvalidArgument):
    pass


class InvalidRecoveryCode(InvalidArgument):
    pass


class InvalidExternalId(InvalidArgument):
    pass


class EmailOrPhoneRequired(InvalidArgument):
    pass


class EmptyRoleId(InvalidArgument):
    pass


class InvalidRoleId(InvalidArgument):
    pass


class TooManyRoles(InvalidArgument):
    def __init__(self, field: str, limit: int) -> None:
        super().__init__(field, f"at most {limit:,} roles")
        self.limit = limit


class ValueTooLong(InvalidArgument):
    """A string longer than ``limit`` characters, where the server bounds the field (``field`` names it)."""

    def __init__(self, field: str, limit: int) -> None:
        super().__init__(field, f"at most {limit:,} characters")
        self.limit = limit


class IpAddressTooLong(ValueTooLong):
    pass


class UserAgentTooLong(ValueTooLong):
    pass


class RoleIdTooLong(ValueTooLong):
    pass


class SearchValueTooLong(ValueTooLong):
    pass


class InvalidSearchQuery(InvalidArgument):
    pass


class SearchInvalidOperator(InvalidSearchQuery):
    pass


class SearchInvalidLimit(InvalidSearchQuery):
    pass


class SearchInvalidCursor(InvalidSearchQuery):
    pass


class SearchMissingFilterName(InvalidSearchQuery):
    pass


class SearchFilterNameMustBeString(InvalidSearchQuery):
    pass


class SearchFilterNameNotRecognized(InvalidSearchQuery):
    pass


class SearchMissingFilterValue(InvalidSearchQuery):
    pass


class SearchExpectedArrayOfString(InvalidSearchQuery):
    pass


class SearchExpectedBool(InvalidSearchQuery):
    pass


class SearchExpectedString(InvalidSearchQuery):
    pass


class SearchExpectedObject(InvalidSearchQuery):
    pass


class SearchExpectedTimestamp(InvalidSearchQuery):
    pass


class SearchTooManyFilterValues(InvalidSearchQuery):
    pass


class SearchTooManyOperands(InvalidSearchQuery):
    pass


class SearchInvalidStatusFilter(InvalidSearchQuery):
    pass


class SearchInvalidOAuthProviderFilter(InvalidSearchQuery):
    pass


class SearchMixedUserIds(InvalidSearchQuery):
    pass


class SearchFullNameFuzzyTooShort(InvalidSearchQuery):
    pass


class SearchEmailAddressFuzzyTooShort(InvalidSearchQuery):
    pass


class SearchPhoneNumberFuzzyTooShort(InvalidSearchQuery):
    pass


class InvalidCustomClaims(InvalidArgument):
    pass


class StytchClaimsInCustomClaims(InvalidCustomClaims):
    pass


class CustomClaimsTooLarge(InvalidCustomClaims):
    pass


class UnrepresentableCustomClaims(InvalidCustomClaims):
    pass


class MetadataTooManyKeys(InvalidArgument):
    pass


class MetadataTooLarge(InvalidArgument):
    pass


class MetadataTooDeep(InvalidArgument):
    pass


class RecoveryCodeUsedAsTotpCode(InvalidArgument):
    pass


class TotpCodeUsedAsRecoveryCode(InvalidArgument):
    pass


class InvalidRbacPolicy(InvalidArgument):
    """A policy document that is refused; ``problems`` lists each reason with its location."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("policy", "; ".join(problems))
        self.problems = list(problems)


class DuplicateEmail(BadRequest):
    pass


class DuplicatePhoneNumber(BadRequest):
    pass


class DuplicateExternalId(BadRequest):
    pass


class ActiveTotpExists(BadRequest):
    pass


class TotpCodeAlreadyAuthenticated(BadRequest):
    pass


class ExpiredTotp(BadRequest):
    pass


class NoActiveRecoveryCodeBackedFactor(BadRequest):
    pass


class NoSessionArguments(BadRequest):
    pass


class TooManySessionArguments(BadRequest):
    pass


class NoSessionRevokeArguments(BadRequest):
    pass


class TooManySessionRevokeArguments(BadRequest):
    pass


class Unauthorized(ServerError):
    pass


class UnauthorizedCredentials(Unauthorized):
    pass


class InvalidJwt(Unauthorized):
    """The token is malformed, badly signed, for another audience/issuer, or (when checked) expired."""


class UnableToAuthenticateTotp(Unauthorized):
    pass


class UnableToAuthenticateRecoveryCode(Unauthorized):
    pass


class Forbidden(ServerError):
    pass


class SessionAuthorizationError(Forbidden):
    pass


class NotFound(ServerError):
    pass


class UserNotFound(NotFound):
    pass


class TotpNotFound(NotFound):
    pass


class SessionNotFound(NotFound):
    pass


class ProjectNotFound(NotFound):
    pass


class IntegrityFailure(ServerError):
    """A stored secret does not decrypt under what it is bound to: its row was altered or re-pointed at
    another owner, or the process has another master key. The request fails closed."""


class StoreFailed(ServerError):
    """SQLite reported an I/O error or corruption (``SQLITE_IOERR``, ``SQLITE_CORRUPT``, ``SQLITE_NOTADB``):
    what this process holds of the database, in its own and the kernel's caches, can no longer be trusted to
    be what is on disk (a failed write or fsync may leave pages the kernel has marked clean), so the store
    refuses every later transaction until the process is restarted. ``reason``: SQLite's error name."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TooManyRequests(ServerError):
    pass


class UserLockLimitReached(TooManyRequests):
    pass


class RateLimited(TooManyRequests):
    pass


class BackupFailed(ServerError):
    """A backup was not made and left nothing at its destination: bad input (``bad_input``: a missing
    database, a taken destination; exit code 2) or a failure on the way (the disk; exit code 1)."""

    def __init__(self, message: str, *, bad_input: bool = True) -> None:
        super().__init__(message)
        self.bad_input = bad_input


class ConfigError(ServerError):
    """A setting is missing or malformed (exit code 2 at the command line). The message names the setting,
    never its value when that value is secret."""


class MasterKeyError(ConfigError):
    """The master key is missing or malformed. The message never contains key material."""


class StoreUnavailable(ConfigError):
    """The store could not be opened or migrated at start (``totpflow.server.storage.unreachable``
    describes it: what failed to connect, where and why, never a password)."""


class KeyRotationRefused(ServerError):
    """A signing-key rotation of the operator's commands is not made; nothing was stored."""


class ForeignMasterKey(KeyRotationRefused):
    """This process's master key does not decrypt the project's signing key: a key it stored would be
    unreadable to the servers, so it stores none."""


class RotationPending(KeyRotationRefused):
    """A rollover is already under way: its key is published and will sign from ``signs_from``."""

    def __init__(self, kid: str, signs_from: datetime) -> None:
        super().__init__(kid)
        self.kid = kid
        self.signs_from = signs_from


class RbacPolicyUnreadable(ServerError):
    """The project's stored RBAC policy cannot be read; an authorization check then fails (5xx), never
    passes. ``detail`` names the reason (no stored value)."""
