"""Settings of a server process, from command-line flags and the environment.

==========================  =====================================  ==========================================
setting                     flag                                   environment
==========================  =====================================  ==========================================
host                        ``--host`` (127.0.0.1)
port                        ``--port`` (8000)
database URL                ``--database-url``                     ``TOTPFLOW_DATABASE_URL`` (default:
                                                                   ``totpflow.server.dbfile``'s SQLite file)
master key                                                         ``TOTPFLOW_MASTER_KEY`` (32 bytes, base64)
master key file             ``--master-key-file PATH``             ``TOTPFLOW_MASTER_KEY_FILE`` (default on
                                                                   SQLite: ``DATABASE.key`` beside it)
signing key size (bits)     ``--rsa-key-size`` (2048)              ``TOTPFLOW_RSA_KEY_SIZE`` (2048|3072|4096)
worker processes            ``--workers`` (1)
user-lock threshold         ``--lock-threshold`` (10)              ``TOTPFLOW_LOCK_THRESHOLD``
per-user rate limit         ``--rate-limit-user`` (60/60s)         ``TOTPFLOW_RATE_LIMIT_USER``
per-project rate limit      ``--rate-limit-project`` (off)         ``TOTPFLOW_RATE_LIMIT_PROJECT``
rate-limit counters in                                             ``TOTPFLOW_RATE_LIMIT_REDIS`` (redis://…;
Redis (default: the store)                                         needs ``totpflow[redis]``)
request log                 ``--log-format json|text``, ``--quiet``  ``TOTPFLOW_LOG_FORMAT`` (json|text|off)
key rollover period         ``--rotate-keys-every`` (off)          ``TOTPFLOW_ROTATE_KEYS_EVERY``
key publication delay       ``--key-publish-for`` (1h)             ``TOTPFLOW_KEY_PUBLISH_FOR``
retired key retention       ``--key-retention`` (30d)              ``TOTPFLOW_KEY_RETENTION`` (at least 5m)
==========================  =====================================  ==========================================

Rate limits are ``N/PERIOD`` (``30/60s``, ``1000/minute``, ``5000/1h``) or ``off``; they apply to
``/v1/totps/authenticate`` and ``/v1/totps/recover`` in fixed windows counted in the database
(``totpflow.server.rate_limits``). The defaults never bother a person or an enrolment flow: 60
attempts a minute for one user, no project-wide cap.

On SQLite a missing master key is created as a 0600 key file beside the database (``serve`` warns that one
copy of that folder then holds both; ``--master-key-file`` puts the key elsewhere); PostgreSQL is shared by
many processes and hosts, so it refuses to start without ``TOTPFLOW_MASTER_KEY`` or a key file
(``totpflow.server.crypto``). A project secret given in ``TOTPFLOW_PROJECT_SECRET`` must be at least 32
characters (:func:`check_project_secret`).
Everything that is wrong here is a :class:`ConfigError` whose message names the setting, never its value when
that value is secret.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Final

from totpflow.server.dbfile import chosen_database_url, read_only, sqlite_path
from totpflow.server.errors import ConfigError
from totpflow.server.policy import Policy, RateLimit, parse_duration, whole_number

PROJECT_ID_ENV: Final = "TOTPFLOW_PROJECT_ID"
PROJECT_SECRET_ENV: Final = "TOTPFLOW_PROJECT_SECRET"
LOCK_THRESHOLD_ENV: Final = "TOTPFLOW_LOCK_THRESHOLD"
RATE_LIMIT_USER_ENV: Final = "TOTPFLOW_RATE_LIMIT_USER"
RATE_LIMIT_PROJECT_ENV: Final = "TOTPFLOW_RATE_LIMIT_PROJECT"
LOG_FORMAT_ENV: Final = "TOTPFLOW_LOG_FORMAT"
RATE_LIMIT_REDIS_ENV: Final = "TOTPFLOW_RATE_LIMIT_REDIS"
ROTATE_KEYS_EVERY_ENV: Final = "TOTPFLOW_ROTATE_KEYS_EVERY"
KEY_PUBLISH_FOR_ENV: Final = "TOTPFLOW_KEY_PUBLISH_FOR"
KEY_RETENTION_ENV: Final = "TOTPFLOW_KEY_RETENTION"
LOG_FORMATS: Final = ("json", "text", "off")
RSA_KEY_SIZE_ENV: Final = "TOTPFLOW_RSA_KEY_SIZE"
RSA_KEY_SIZES: Final = (2048, 3072, 4096)  # crypto.RSA_KEY_SIZES (not imported: this module stays light)
MIN_PROJECT_SECRET_CHARS: Final = 32  # 32 base64 characters carry 192 bits; 128 bits is NIST's floor

SUPPORTED_SCHEMES: Final = ("sqlite", "postgresql", "postgres", "postgresql+psycopg")


# Worker processes one server may start: each is a whole interpreter with its own pools (about 70 MiB).
MAX_WORKERS = 64


@dataclass(frozen=True)
class Settings:
    database_url: str
    master_key: bytes = field(repr=False)
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    policy: Policy = field(default_factory=Policy)
    log_format: str = "off"  # request log on stderr: json, text or off (``totpflow.server.http.access_log``)
    rate_limit_redis_url: str | None = field(default=None, repr=False)  # may hold a password
    master_key_file: Path | None = None  # where the master key came from; None: TOTPFLOW_MASTER_KEY

    @classmethod
    def load(
        cls,
        environ: Mapping[str, str],
        *,
        database_url: str | None = None,
        host: str = "127.0.0.1",
        port: int = 8000,
        workers: int = 1,
        lock_threshold: int | None = None,
        rate_limit_user: str | None = None,
        rate_limit_project: str | None = None,
        log_format: str | None = None,
        rotate_keys_every: str | None = None,
        key_publish_for: str | None = None,
        key_retention: str | None = None,
        rsa_key_size: int | None = None,
        master_key_file: str | None = None,
    ) -> Settings:
        """Settings from flags (the keyword arguments) over the environment; resolves the master key."""

        url = store_url(environ, database_url)
        if not 0 < port < 65536:
            raise ConfigError(f"--port must be between 1 and 65535, got {port}")
        if not 1 <= workers <= MAX_WORKERS:
            raise ConfigError(f"--workers must be from 1 to {MAX_WORKERS}, got {workers}")
        if not host.strip():  # the socket layer would read an empty host as every interface
            raise ConfigError("--host is empty: name the interface to listen on (0.0.0.0 for every one)")
        policy = Policy()
        threshold = lock_threshold if lock_threshold is not None else environ.get(LOCK_THRESHOLD_ENV)
        if threshold is not None:
            count = whole_number(str(threshold))
            if count is None or not 1 <= count <= 100:
                shown = quoted_setting(str(threshold))
                raise ConfigError(f"the lock threshold must be an integer from 1 to 100, got {shown}")
            policy = replace(policy, lock_threshold=count)
        user_limit = rate_limit_user if rate_limit_user is not None else environ.get(RATE_LIMIT_USER_ENV)
        if user_limit is not None:
            policy = replace(policy, rate_limit_user=parse_rate_limit("--rate-limit-user", user_limit))
        project_limit = (
            rate_limit_project if rate_limit_project is not None else environ.get(RATE_LIMIT_PROJECT_ENV)
        )
        if project_limit is not None:
            policy = replace(
                policy, rate_limit_project=parse_rate_limit("--rate-limit-project", project_limit)
            )
        policy = key_policy(
            policy,
            environ,
            key_publish_for=key_publish_for,
            key_retention=key_retention,
            rsa_key_size=rsa_key_size,
        )
        every = rotate_keys_every if rotate_keys_every is not None else environ.get(ROTATE_KEYS_EVERY_ENV)
        if every is not None and every.strip().lower() not in ("", "off"):
            policy = replace(policy, rotate_keys_every=parse_rotation_period(policy, every))
        redis_url = environ.get(RATE_LIMIT_REDIS_ENV) or None
        if redis_url is not None and not redis_url.startswith(("redis://", "rediss://", "unix://")):
            raise ConfigError(f"{RATE_LIMIT_REDIS_ENV} must be a redis://, rediss:// or unix:// URL")
        fmt = log_format if log_format is not None else environ.get(LOG_FORMAT_ENV, "off")
        if fmt not in LOG_FORMATS:
            raise ConfigError(f"the log format must be one of {', '.join(LOG_FORMATS)}, got {fmt!r}")
        key, key_path = store_master_key(url, environ, master_key_file)
        return cls(
            database_url=url,
            master_key=key,
            host=host,
            port=port,
            workers=workers,
            policy=policy,
            log_format=fmt,
            rate_limit_redis_url=redis_url,
            master_key_file=key_path,
        )

    @classmethod
    def for_store(
        cls,
        environ: Mapping[str, str],
        *,
        database_url: str | None = None,
        master_key_file: str | None = None,
        key_settings: bool = False,
    ) -> Settings:
        """The settings of an operator's store command: the store and its master key, and with
        ``key_settings`` (``keys rotate``) the signing-key settings (publication delay, retention, key size).
        No other setting of the server is read, so one that is malformed (a rate limit, the log format, the
        rotation period) does not keep an operator from the store; ``serve`` refuses it."""
        url = store_url(environ, database_url)
        policy = key_policy(Policy(), environ) if key_settings else Policy()
        key, key_path = store_master_key(url, environ, master_key_file)
        return cls(database_url=url, master_key=key, policy=policy, master_key_file=key_path)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        return cls.load(os.environ if environ is None else environ)


def store_url(environ: Mapping[str, str], database_url: str | None) -> str:
    """The store's URL (the flag, else the environment, else the default), checked: a scheme the storage layer
    serves, and no existing SQLite file of another kind."""
    url = check_database_url(chosen_database_url(database_url, environ))
    check_sqlite_file(url)
    return url


def store_master_key(
    url: str, environ: Mapping[str, str], master_key_file: str | None
) -> tuple[bytes, Path | None]:
    """The master key and the file it came from (None: ``TOTPFLOW_MASTER_KEY``), as
    ``crypto.resolve_master_key`` finds or makes it; a SQLite path that is a folder is refused first, before
    a key file is made beside it."""
    from totpflow.server import crypto

    database = sqlite_path(url)
    if database is not None and database.is_dir():
        raise ConfigError(f"{database} is a folder, not a database file")
    try:
        return crypto.resolve_master_key(url, dict(environ), master_key_file)
    except OSError as exc:
        raise ConfigError(f"cannot read or create the master key file: {exc.strerror}") from None


def key_policy(
    policy: Policy,
    environ: Mapping[str, str],
    *,
    key_publish_for: str | None = None,
    key_retention: str | None = None,
    rsa_key_size: int | None = None,
) -> Policy:
    """``policy`` with the signing-key settings, flags (the keyword arguments) over the environment: the
    publication delay, the retention of retired keys and the size of new keys."""
    publish = key_publish_for if key_publish_for is not None else environ.get(KEY_PUBLISH_FOR_ENV)
    if publish is not None:
        policy = replace(policy, key_publication_delay=parse_publication_delay(publish))
    retention = key_retention if key_retention is not None else environ.get(KEY_RETENTION_ENV)
    if retention is not None:
        policy = replace(policy, key_retention=parse_key_retention(policy, retention))
    key_size = rsa_key_size if rsa_key_size is not None else environ.get(RSA_KEY_SIZE_ENV)
    if key_size is not None:
        bits = whole_number(str(key_size))
        if bits is None or bits not in RSA_KEY_SIZES:
            sizes = ", ".join(map(str, RSA_KEY_SIZES))
            shown = quoted_setting(str(key_size))
            raise ConfigError(f"the RSA key size must be one of {sizes} bits, got {shown}")
        policy = replace(policy, rsa_key_size=bits)
    return policy


def check_project_secret(secret: str) -> str:
    """A project secret from the environment: at least ``MIN_PROJECT_SECRET_CHARS`` characters (the message
    gives its length, never the secret)."""
    if len(secret) < MIN_PROJECT_SECRET_CHARS:
        raise ConfigError(
            f"{PROJECT_SECRET_ENV} must be at least {MIN_PROJECT_SECRET_CHARS} characters "
            f"(it has {len(secret)}); make one with: "
            "python -c 'import secrets; print(secrets.token_urlsafe(32))'"
        )
    return secret


def key_beside_database(settings: Settings) -> bool:
    """Whether the master key file sits in the database's folder (one copy of the folder holds both)."""
    database = sqlite_path(settings.database_url)
    if settings.master_key_file is None or database is None:
        return False
    return settings.master_key_file.parent.resolve() == database.absolute().parent.resolve()


def quoted_setting(value: str, most: int = 40) -> str:
    """A setting's value as a message quotes it: at most ``most`` characters (a pasted page is not printed
    back whole)."""
    return repr(value) if len(value) <= most else f"{value[:most]!r}… ({len(value)} characters)"


def parse_rate_limit(setting: str, text: str) -> RateLimit | None:
    """A rate limit setting (``N/PERIOD`` or ``off``); :class:`ConfigError` naming the setting otherwise."""
    try:
        return RateLimit.parse(text)
    except ValueError as exc:
        raise ConfigError(f"{setting}: {exc}, got {text!r}") from None


def parse_setting_duration(setting: str, text: str) -> timedelta:
    """A duration setting (``90s``, ``30m``, ``1h``, ``30d``); :class:`ConfigError` naming the setting."""
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise ConfigError(f"{setting}: {exc}, got {text!r}") from None


def parse_publication_delay(text: str) -> timedelta:
    """``--key-publish-for``: how long a new signing key is published before it signs; more than zero, since
    a key that signs at once is one no JWKS cache knows yet (that is ``keys rotate --now``, an emergency)."""
    delay = parse_setting_duration("--key-publish-for", text)
    if delay <= timedelta(0):
        raise ConfigError(
            "--key-publish-for must be more than 0 (a key would sign before any JWKS cache knows it: that "
            f"is `totpflow keys rotate --now`, for an emergency), got {text!r}"
        )
    return delay


def parse_key_retention(policy: Policy, text: str) -> timedelta:
    """``--key-retention``: how long a retired signing key stays published and verifying; at least a session
    JWT's lifetime (a JWT signed just before the key retired must keep verifying until it expires)."""
    retention = parse_setting_duration("--key-retention", text)
    if retention.total_seconds() < policy.jwt_lifetime_seconds:
        raise ConfigError(
            f"--key-retention must be at least {policy.jwt_lifetime_seconds // 60}m (a session JWT's "
            f"lifetime), got {text!r}"
        )
    return retention


def parse_rotation_period(policy: Policy, text: str) -> timedelta:
    """``--rotate-keys-every``: a duration longer than the key publication delay (a rollover must finish
    before the next one is due); :class:`ConfigError` otherwise."""
    try:
        every = parse_duration(text)
    except ValueError as exc:
        raise ConfigError(f"--rotate-keys-every: {exc}, got {text!r}") from None
    if every <= policy.key_publication_delay:
        hours = policy.key_publication_delay.total_seconds() / 3600
        raise ConfigError(f"--rotate-keys-every must be longer than the key publication delay ({hours:g}h)")
    return every


def rate_limit_text(limit: RateLimit | None) -> str:
    """The setting's text for a rate limit (what ``parse_rate_limit`` reads back)."""
    return "off" if limit is None else str(limit)


def check_database_url(url: str) -> str:
    """The URL if its scheme is one the storage layer serves; :class:`ConfigError` otherwise."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme not in SUPPORTED_SCHEMES or not rest:
        # Only a recognisable scheme is echoed: a malformed URL may hold a password anywhere.
        got = f"scheme {scheme!r}" if sep and scheme.isidentifier() else "no scheme"
        raise ConfigError(
            f"the database URL must look like sqlite:///PATH or postgresql://USER@HOST:PORT/DB (got {got})"
        )
    if scheme == "sqlite" and not rest.startswith("/"):
        raise ConfigError("a SQLite database URL is sqlite:///PATH, with three slashes")
    if scheme == "sqlite" and "?" in rest:  # the driver would ignore them, with a warning
        raise ConfigError("a SQLite database URL takes no ?options: totpflow sets the connection's own")
    if scheme != "sqlite":
        from urllib.parse import urlsplit

        try:
            _ = urlsplit(url).port  # ValueError for a port that is no number from 0 to 65535
        except ValueError:
            raise ConfigError(
                "the database URL's host or port is malformed (postgresql://USER@HOST:PORT/DB)"
            ) from None
    return url


def check_sqlite_file(url: str) -> None:
    """:class:`ConfigError` when a SQLite URL names an existing file that is not a totpflow store: not a
    SQLite database, or one of another application (tables, and no ``alembic_version``). Checked read-only,
    before anything is created or changed (the master key file beside it, the file's mode, its journal
    mode), so such a file is left exactly as it was."""
    path = sqlite_path(url)
    if path is None or not path.is_file() or path.stat().st_size == 0:
        return
    import sqlite3

    try:
        with read_only(path) as db:
            tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.OperationalError:  # busy, locked, a folder it cannot read: the store's own open reports it
        return
    except sqlite3.Error as exc:  # "file is not a database" and the like
        raise ConfigError(
            f"{path} is not a SQLite database totpflow can open ({type(exc).__name__})"
        ) from None
    if tables and "alembic_version" not in tables:
        raise ConfigError(f"{path} is the SQLite database of another application (it has tables of its own)")


# libpq's connection parameters in a URL's query that are secrets (a password, a client key's passphrase).
_SECRET_QUERY_PARAMETERS: Final = frozenset({"password", "sslpassword"})


def display_url(url: str) -> str:
    """The URL with any password masked, for printing: in the user info and in the query."""
    scheme, _, rest = url.partition("://")
    rest, question, query = rest.partition("?")
    userinfo, at, location = rest.rpartition("@")
    if at and ":" in userinfo:
        rest = f"{userinfo.split(':', 1)[0]}:***@{location}"
    if question:
        pairs = (pair.partition("=") for pair in query.split("&"))
        query = "&".join(
            f"{name}=***" if sep and name.lower() in _SECRET_QUERY_PARAMETERS else f"{name}{sep}{value}"
            for name, sep, value in pairs
        )
    return f"{scheme}://{rest}{question}{query}"
