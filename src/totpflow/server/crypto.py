"""Keys and cryptography of the server: the master key, AES-256-GCM encryption of stored secrets, keyed
hashes, and the RSA signing keys behind session JWTs and the JWKS.

* The master key (32 bytes, base64 in ``TOTPFLOW_MASTER_KEY``, or in the key file ``--master-key-file`` /
  ``TOTPFLOW_MASTER_KEY_FILE`` names, created 0600 when missing for a database not keyed yet; on SQLite with
  neither, a 0600 key file beside the database) never touches the database. Every other key is derived from it
  with HKDF-SHA256 (RFC 5869), one subkey per purpose, so a key used for encryption is never also used
  for hashing.
* ``Cipher.encrypt`` uses AES-256-GCM (NIST SP 800-38D) with a random 96-bit nonce and associated data
  naming the purpose and everything the secret belongs to (:func:`binding`): a TOTP secret is bound to its
  project, user and TOTP id, a recovery code to those and its own id, a signing key to its project and
  ``kid``. A ciphertext copied into another row, or a row re-pointed at another user or project, fails to
  decrypt; :func:`open_bound` turns that into :class:`~totpflow.server.errors.IntegrityFailure` and logs
  which binding failed (ids only, never a secret).
* ``Cipher.keyed_hash`` is HMAC-SHA256 under a per-purpose subkey. Session tokens and project secrets are
  stored only as such hashes; recovery codes are found through one. Without the master key a stolen
  database does not allow an offline guess (NIST SP 800-63B §5.1.2.2's concern for look-up secrets below
  112 bits).
* Signing keys are RSA (RS256, RFC 7518 §3.3; 2048 bits unless configured otherwise); the private key is
  stored as PEM encrypted with the Cipher, and the public half is rendered as a JWK (RFC 7517) with all nine
  fields Stytch's SDK requires. The stored JWK is served only after :func:`jwk_matches` has checked it
  against the decrypted private key, so a swapped public key is never vouched for.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import Enum
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.x509.oid import NameOID

from totpflow.server.dbfile import narrow_to_owner, read_only, sqlite_path
from totpflow.server.errors import IntegrityFailure, MasterKeyError

MASTER_KEY_ENV = "TOTPFLOW_MASTER_KEY"
MASTER_KEY_FILE_ENV = "TOTPFLOW_MASTER_KEY_FILE"
MASTER_KEY_BYTES = 32
NONCE_BYTES = 12
RSA_KEY_SIZES = (2048, 3072, 4096)
DEFAULT_RSA_KEY_SIZE = 2048

integrity_log = logging.getLogger("totpflow.server.integrity")


class HashPurpose(Enum):
    """One HMAC subkey per purpose (the HKDF ``info`` string)."""

    SESSION_TOKEN = "totpflow/hmac/session-token"
    RECOVERY_CODE = "totpflow/hmac/recovery-code"
    PROJECT_SECRET = "totpflow/hmac/project-secret"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def decode_master_key(text: str, source: str = MASTER_KEY_ENV) -> bytes:
    """Standard or URL-safe base64 of exactly 32 bytes; ``source`` names where the text came from."""
    cleaned = text.strip().replace("-", "+").replace("_", "/")
    try:
        key = base64.b64decode(cleaned + "=" * (-len(cleaned) % 4), validate=True)
    except ValueError as exc:
        raise MasterKeyError(f"{source} is not valid base64") from exc
    if len(key) != MASTER_KEY_BYTES:
        raise MasterKeyError(f"{source} must decode to {MASTER_KEY_BYTES} bytes, got {len(key)}")
    return key


def _read_key_file(path: Path) -> str:
    """The key file's text: a key is 44 characters, so at most 1 KiB is read (``/dev/zero`` never ends)."""
    try:
        with path.open("rb") as handle:
            return handle.read(1024).decode("ascii")
    except UnicodeDecodeError:
        raise MasterKeyError(f"the master key file {path} is not base64 text") from None
    except OSError as exc:
        raise MasterKeyError(f"cannot read the master key file {path}: {exc.strerror or exc}") from None


def new_master_key_text() -> str:
    return base64.b64encode(secrets.token_bytes(MASTER_KEY_BYTES)).decode("ascii")


def load_or_create_key_file(path: Path) -> bytes:
    """Read the key file at ``path``, or create it with mode 0600 if it does not exist.

    Creation uses ``O_CREAT | O_EXCL`` so two processes starting at once agree on one key: the loser of
    the race reads the winner's file.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        narrow_to_owner(path)  # owner-only, as the database files are
        text = _read_key_file(path)
        if not text.strip():  # another process created it and has not written yet
            for _ in range(50):
                time.sleep(0.01)
                text = _read_key_file(path)
                if text.strip():
                    break
        return decode_master_key(text, f"the master key file {path}")
    except OSError as exc:  # a folder that cannot be written, a path through a file …
        raise MasterKeyError(f"cannot create the master key file {path}: {exc.strerror or exc}") from None
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        text = new_master_key_text()
        handle.write(text + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    return decode_master_key(text)


# What a store holds once it is keyed: the master-key check, and projects (each project's secret hash, signing
# keys and users' secrets are keyed under the master key). Either one refuses a new key.
_KEYED_TABLES = ("master_key_check", "projects")


def _sqlite_is_keyed(database: Path) -> bool:
    """Whether the SQLite file is keyed: it holds the master-key check or a project, and so data under some
    master key (read-only; a file that is not there, not yet migrated or unreadable holds none that a new
    key could miss). A table not there yet (a store of an earlier release has no check) holds nothing."""
    if not database.is_file():
        return False
    import sqlite3

    try:
        with read_only(database) as db:
            tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            return any(
                db.execute(f"SELECT EXISTS (SELECT 1 FROM {table})").fetchone()[0]  # a name of _KEYED_TABLES
                for table in _KEYED_TABLES
                if table in tables
            )
    except sqlite3.Error:
        return False


def _keyed_database(url: str) -> str | None:
    """The database of ``url`` as a message names it, when it is already keyed (:func:`_sqlite_is_keyed`,
    ``storage.postgres_is_keyed``); None when it holds nothing under a master key (new, only migrated, an
    in-memory SQLite database). A PostgreSQL database that cannot be asked is ``StoreUnavailable``."""
    if url.startswith("sqlite"):
        database = sqlite_path(url)
        if database is None or not _sqlite_is_keyed(database.absolute()):
            return None
        return str(database.absolute())
    from totpflow.server.config import display_url
    from totpflow.server.storage import postgres_is_keyed

    return display_url(url) if postgres_is_keyed(url) else None


def key_file_for_database(database_path: Path) -> Path:
    """``/x/totpflow.db`` → ``/x/totpflow.db.key``."""
    return database_path.with_name(database_path.name + ".key")


def resolve_master_key(
    url: str, environ: dict[str, str] | None = None, key_file: str | None = None
) -> tuple[bytes, Path | None]:
    """The master key for a database URL and the key file it came from (None for the variable).

    In order: ``TOTPFLOW_MASTER_KEY``; the key file ``key_file`` (``--master-key-file``) or
    ``TOTPFLOW_MASTER_KEY_FILE`` names (created 0600 when missing, unless the database, SQLite or
    PostgreSQL, is already keyed: it holds projects or a master-key check); for a SQLite file, the key file
    beside it (created with the database; a keyed database without one is refused). PostgreSQL serves many
    processes and hosts, so it needs the variable or a key file; a store's check (``services.master_key``)
    refuses a new key once it holds secrets. A key given both as a value and as a file is refused: one of
    them would be silently ignored."""
    env = os.environ if environ is None else environ
    value = env.get(MASTER_KEY_ENV)
    file_text = key_file or env.get(MASTER_KEY_FILE_ENV)
    if value and file_text:
        raise MasterKeyError(f"set either {MASTER_KEY_ENV} or a master key file, not both")
    if value:
        return decode_master_key(value), None
    database = sqlite_path(url)
    if file_text:
        path = Path(file_text).expanduser().absolute()
        if not path.parent.is_dir():
            raise MasterKeyError(f"the master key file's folder {path.parent} does not exist")
        if not path.exists():
            # A mistyped path, for a store already keyed: a new key there would be refused by the store's
            # check, and left behind. Asked before the file is made: for a new store the key file is written
            # (and synced) before the store records anything under it.
            keyed = _keyed_database(url)
            if keyed is not None:
                raise MasterKeyError(
                    f"the master key file {path} does not exist, and the database {keyed} is already keyed "
                    "(it holds projects or a master key check): give the key file it was written with"
                )
        return load_or_create_key_file(path), path
    if database is not None:
        path = database.absolute()
        key_path = key_file_for_database(path)
        if not key_path.exists() and _sqlite_is_keyed(path):
            # A store written under a key from elsewhere: a new key here would decrypt none of its secrets.
            raise MasterKeyError(
                f"the database {path} is already keyed (it holds projects or a master key check) but the "
                "master key file beside it does not exist: "
                f"set {MASTER_KEY_ENV} or {MASTER_KEY_FILE_ENV} / --master-key-file to the key it was "
                "written with"
            )
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)  # a new folder is the owner's alone
        return load_or_create_key_file(key_path), key_path
    raise MasterKeyError(
        f"set {MASTER_KEY_ENV} (32 bytes, base64) or {MASTER_KEY_FILE_ENV} / --master-key-file to use this "
        "database"
    )


def master_key_for_url(url: str, environ: dict[str, str] | None = None) -> bytes:
    """The master key of :func:`resolve_master_key`."""
    return resolve_master_key(url, environ)[0]


def _derive(master_key: bytes, info: str) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info.encode("ascii")).derive(master_key)


class Cipher:
    """AES-256-GCM encryption and HMAC-SHA256 keyed hashes under subkeys of one master key."""

    def __init__(self, master_key: bytes) -> None:
        if len(master_key) != MASTER_KEY_BYTES:
            raise MasterKeyError(f"the master key must be {MASTER_KEY_BYTES} bytes")
        self._aead = AESGCM(_derive(master_key, "totpflow/aes-256-gcm"))
        self._hmac_keys = {purpose: _derive(master_key, purpose.value) for purpose in HashPurpose}

    def __repr__(self) -> str:  # never show key material
        return "Cipher(<redacted>)"

    def encrypt(self, plaintext: bytes, associated_data: str) -> bytes:
        """``nonce || ciphertext || tag``; ``associated_data`` binds it to one purpose and row."""
        nonce = secrets.token_bytes(NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, plaintext, associated_data.encode("utf-8"))

    def decrypt(self, blob: bytes, associated_data: str) -> bytes:
        """Raises ``cryptography.exceptions.InvalidTag`` for a tampered, swapped or foreign ciphertext."""
        return self._aead.decrypt(
            bytes(blob[:NONCE_BYTES]), bytes(blob[NONCE_BYTES:]), associated_data.encode("utf-8")
        )

    def encrypt_text(self, plaintext: str, associated_data: str) -> bytes:
        return self.encrypt(plaintext.encode("utf-8"), associated_data)

    def decrypt_text(self, blob: bytes, associated_data: str) -> str:
        return self.decrypt(blob, associated_data).decode("utf-8")

    def keyed_hash(self, purpose: HashPurpose, value: str) -> bytes:
        return hmac.digest(self._hmac_keys[purpose], value.encode("utf-8"), "sha256")

    def matches(self, purpose: HashPurpose, value: str, stored_hash: bytes) -> bool:
        """Constant-time comparison of ``value``'s keyed hash with a stored one."""
        return hmac.compare_digest(self.keyed_hash(purpose, value), bytes(stored_hash))


# ``json.dumps(value, separators=(",", ":"))`` without making a new encoder for every call
_COMPACT_JSON = json.JSONEncoder(separators=(",", ":"))


def binding(purpose: str, *owners: str) -> str:
    """The associated data of a ciphertext: its purpose and the ids of everything it belongs to, as a JSON
    array (so no id can imitate another binding by containing a separator)."""
    return _COMPACT_JSON.encode([purpose, *owners])


def totp_secret_binding(project_id: str, user_id: str, totp_id: str) -> str:
    return binding("totp-secret", project_id, user_id, totp_id)


def recovery_code_binding(project_id: str, user_id: str, totp_id: str, recovery_code_id: str) -> str:
    return binding("recovery-code", project_id, user_id, totp_id, recovery_code_id)


def recovery_code_hash_input(project_id: str, user_id: str, totp_id: str, code: str) -> str:
    """What a recovery code's keyed hash covers: the code and its owners, so a code found through its hash
    is the code of this user's TOTP in this project."""
    return binding("recovery-code-hash", project_id, user_id, totp_id, code)


def signing_key_binding(project_id: str, kid: str) -> str:
    return binding("signing-key", project_id, kid)


def open_bound(cipher: Cipher, blob: bytes, associated_data: str) -> bytes:
    """Decrypt a stored secret under its binding; :class:`IntegrityFailure` (logged, with the binding's ids
    only) when it does not decrypt: the row was altered, moved to another owner, or stored under another
    master key."""
    try:
        return cipher.decrypt(blob, associated_data)
    except InvalidTag:
        integrity_log.error(
            "integrity error: a stored secret does not decrypt under its binding %s (the row was altered or "
            "moved, or the master key differs)",
            associated_data,
        )
        raise IntegrityFailure("stored secret does not match its binding") from None


@dataclass(frozen=True, slots=True)
class SigningKey:
    kid: str
    private_key: rsa.RSAPrivateKey
    public_jwk: dict[str, Any]


def generate_signing_key(kid: str, now: datetime, key_size: int = DEFAULT_RSA_KEY_SIZE) -> SigningKey:
    """A fresh RSA key of ``key_size`` bits and its JWK (with a self-signed certificate for ``x5c``)."""
    if key_size not in RSA_KEY_SIZES:
        raise ValueError(f"RSA key size must be one of {RSA_KEY_SIZES}")
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=key_size)
    return SigningKey(kid=kid, private_key=private_key, public_jwk=public_jwk(private_key, kid, now))


def public_jwk(private_key: rsa.RSAPrivateKey, kid: str, now: datetime) -> dict[str, Any]:
    """The nine-field JWK of stytch-api.md §3.4: kty, use, key_ops, alg, kid, x5c, x5tS256, n, e.

    ``x5c`` holds a self-signed certificate (RFC 7517 §4.7, base64 DER, not base64url) and ``x5tS256`` is the
    base64url SHA-256 thumbprint of that DER (RFC 7517 §4.9).
    """
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, kid)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=3650))
        .sign(private_key, hashes.SHA256())
    )
    der = cert.public_bytes(serialization.Encoding.DER)
    numbers = private_key.public_key().public_numbers()
    return {
        "kty": "RSA",
        "use": "sig",
        "key_ops": ["verify"],
        "alg": "RS256",
        "kid": kid,
        "x5c": [base64.b64encode(der).decode("ascii")],
        "x5tS256": _b64url(hashlib.sha256(der).digest()),
        "n": _b64url(numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")),
        "e": _b64url(numbers.e.to_bytes((numbers.e.bit_length() + 7) // 8, "big")),
    }


def jwk_matches(private_key: rsa.RSAPrivateKey, kid: str, jwk: dict[str, Any]) -> bool:
    """Whether a stored JWK is the public half of ``private_key``: its ``kid``, ``n``, ``e`` and fixed fields,
    and the certificate of ``x5c`` (with its ``x5tS256`` thumbprint) carrying the same public key."""
    numbers = private_key.public_key().public_numbers()
    expected = {
        "kty": "RSA",
        "use": "sig",
        "key_ops": ["verify"],
        "alg": "RS256",
        "kid": kid,
        "n": _b64url(numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")),
        "e": _b64url(numbers.e.to_bytes((numbers.e.bit_length() + 7) // 8, "big")),
    }
    if set(jwk) != set(expected) | {"x5c", "x5tS256"} or any(jwk[k] != v for k, v in expected.items()):
        return False
    try:
        (cert_b64,) = jwk["x5c"]
        der = base64.b64decode(cert_b64, validate=True)
        cert_key = x509.load_der_x509_certificate(der).public_key()
    except (TypeError, ValueError):
        return False
    return (
        isinstance(cert_key, rsa.RSAPublicKey)
        and cert_key.public_numbers() == numbers
        and jwk["x5tS256"] == _b64url(hashlib.sha256(der).digest())
    )


def encrypt_private_key(cipher: Cipher, project_id: str, key: SigningKey) -> bytes:
    pem = key.private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return cipher.encrypt(pem, signing_key_binding(project_id, key.kid))


def decrypt_private_key(cipher: Cipher, project_id: str, kid: str, blob: bytes) -> rsa.RSAPrivateKey:
    """The stored private key; ``IntegrityFailure`` when it does not decrypt under its binding."""
    pem = open_bound(cipher, blob, signing_key_binding(project_id, kid))
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise TypeError("stored signing key is not RSA")
    return key


def utc_now() -> datetime:
    """The production clock: aware UTC."""
    return datetime.now(UTC)
