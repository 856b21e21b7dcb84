"""Tables of the server (SQLAlchemy Core). Every table carries ``project_id`` and every query filters on it.

Invariants that must hold across processes live here as constraints: unique email, phone number and external
id per project; one non-deleted TOTP per user (a partial unique index); unique session-token hashes; one
signing key per project and generation; one rate counter per project, bucket and window; one RBAC policy
per project. The Alembic
migrations in ``migrations/versions`` create exactly this schema (a test compares them).
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    UniqueConstraint,
    text,
)

from totpflow.server.storage.types import UtcDateTime

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

ID = String(96)

# One row: a value encrypted under the store's master key, so that a process holding another key is refused
# before it writes anything (``services.master_key``).
master_key_check = Table(
    "master_key_check",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("check_enc", LargeBinary, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
)

projects = Table(
    "projects",
    metadata,
    Column("project_id", ID, primary_key=True),
    Column("name", String(200), nullable=False),
    Column("secret_hash", LargeBinary, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
)

signing_keys = Table(
    "signing_keys",
    metadata,
    Column("kid", ID, primary_key=True),
    Column("project_id", ID, ForeignKey("projects.project_id", ondelete="CASCADE"), nullable=False),
    Column("generation", Integer, nullable=False),
    Column("private_key_enc", LargeBinary, nullable=False),
    Column("public_jwk", JSON, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("active", Boolean, nullable=False),
    # When the next generation took over signing; the key stays in the JWKS one JWT lifetime longer.
    Column("superseded_at", UtcDateTime, nullable=True),
    UniqueConstraint("project_id", "generation"),
)

# Fixed-window request counters of the rate limits (``totpflow.server.rate_limits``): one row per
# project, bucket (``user:<user_id>`` or ``project``) and window, incremented by one upsert.
rate_counters = Table(
    "rate_counters",
    metadata,
    Column("project_id", ID, primary_key=True),
    Column("bucket", String(160), primary_key=True),
    Column("window_start", BigInteger, primary_key=True),  # Unix seconds
    Column("expires_at", BigInteger, nullable=False, index=True),  # Unix seconds: window_start + period
    Column("hits", Integer, nullable=False),
)

# A project's RBAC policy document (``totpflow.server.domain.rbac``), as ``totpflow rbac set`` stored it. A
# project without a row has the default policy: the role ``stytch_user`` with no permissions.
rbac_policies = Table(
    "rbac_policies",
    metadata,
    Column("project_id", ID, ForeignKey("projects.project_id", ondelete="CASCADE"), primary_key=True),
    Column("policy", JSON, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

users = Table(
    "users",
    metadata,
    Column("user_id", ID, primary_key=True),
    Column("project_id", ID, ForeignKey("projects.project_id", ondelete="CASCADE"), nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("name", JSON, nullable=True),
    Column("trusted_metadata", JSON, nullable=False),
    Column("untrusted_metadata", JSON, nullable=False),
    Column("external_id", String(128), nullable=True),
    Column("roles", JSON, nullable=False),
    Column("failed_attempts", Integer, nullable=False, server_default=text("0")),
    Column("lock_created_at", UtcDateTime, nullable=True),
    Column("lock_expires_at", UtcDateTime, nullable=True),
    UniqueConstraint("project_id", "external_id"),
    Index(None, "project_id", "created_at", "user_id"),
)

emails = Table(
    "emails",
    metadata,
    Column("email_id", ID, primary_key=True),
    Column("project_id", ID, nullable=False),
    Column("user_id", ID, ForeignKey("users.user_id", ondelete="CASCADE"), nullable=False, index=True),
    Column("email", String(320), nullable=False),
    Column("email_key", String(320), nullable=False),  # domain.emails.email_key: lower-cased, NFC
    Column("verified", Boolean, nullable=False),
    UniqueConstraint("project_id", "email_key"),
)

phone_numbers = Table(
    "phone_numbers",
    metadata,
    Column("phone_id", ID, primary_key=True),
    Column("project_id", ID, nullable=False),
    Column("user_id", ID, ForeignKey("users.user_id", ondelete="CASCADE"), nullable=False, index=True),
    Column("phone_number", String(32), nullable=False),
    Column("verified", Boolean, nullable=False),
    UniqueConstraint("project_id", "phone_number"),
)

totps = Table(
    "totps",
    metadata,
    Column("totp_id", ID, primary_key=True),
    Column("project_id", ID, nullable=False),
    Column("user_id", ID, ForeignKey("users.user_id", ondelete="CASCADE"), nullable=False, index=True),
    Column("secret_enc", LargeBinary, nullable=False),
    Column("verified", Boolean, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("last_used_step", BigInteger, nullable=True),
    Column("deleted", Boolean, nullable=False),
    # One live TOTP per user, enforced by the database even with concurrent creates.
    Index(
        "uq_totps_user_live",
        "user_id",
        unique=True,
        sqlite_where=text("deleted = 0"),
        postgresql_where=text("NOT deleted"),
    ),
)

# A TOTP's recovery codes, keyed by their TOTP and position: the ten codes of a new TOTP go into one place of
# one index (keyed by their random ids, they went into ten pages of it: 7 % of an enrollment's server CPU on
# SQLite, BENCHMARKS.md). Every query reaches a code through its TOTP; ``recovery_code_id`` (a uuid4, so
# unique without an index) names the code in session factors and in its ciphertext's binding.
recovery_codes = Table(
    "recovery_codes",
    metadata,
    Column("recovery_code_id", ID, nullable=False),
    Column("project_id", ID, nullable=False),
    Column("totp_id", ID, ForeignKey("totps.totp_id", ondelete="CASCADE"), primary_key=True),
    Column("position", Integer, primary_key=True, autoincrement=False),
    Column("code_enc", LargeBinary, nullable=False),
    Column("code_hash", LargeBinary, nullable=False),
    Column("used_at", UtcDateTime, nullable=True),
)

sessions = Table(
    "sessions",
    metadata,
    Column("session_id", ID, primary_key=True),
    Column("project_id", ID, nullable=False),
    Column("user_id", ID, ForeignKey("users.user_id", ondelete="CASCADE"), nullable=False, index=True),
    Column("token_hash", LargeBinary, nullable=False, unique=True),
    Column("started_at", UtcDateTime, nullable=False),
    Column("last_accessed_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("revoked_at", UtcDateTime, nullable=True),
    Column("custom_claims", JSON, nullable=False),
    Column("attributes", JSON, nullable=False),
    # The user's roles as of the session's last authentication (they travel in its JWTs).
    Column("roles", JSON, nullable=False),
)

session_factors = Table(
    "session_factors",
    metadata,
    Column("session_id", ID, ForeignKey("sessions.session_id", ondelete="CASCADE"), primary_key=True),
    Column("type", String(32), primary_key=True),
    Column("delivery_method", String(32), primary_key=True),
    Column("factor_id", ID, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("last_authenticated_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)
