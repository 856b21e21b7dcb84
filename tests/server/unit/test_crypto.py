"""Master key handling, AES-GCM with row-bound associated data, keyed hashes, JWKS rendering."""

from __future__ import annotations

import base64
import hashlib
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidTag

from totpflow.server import crypto, errors


def test_ciphertext_is_bound_to_its_associated_data(cipher: crypto.Cipher) -> None:
    blob = cipher.encrypt_text("JBSWY3DPEHPK3PXP", "totp-secret:totp-test-a")
    assert cipher.decrypt_text(blob, "totp-secret:totp-test-a") == "JBSWY3DPEHPK3PXP"
    with pytest.raises(InvalidTag):
        cipher.decrypt_text(blob, "totp-secret:totp-test-b")


def test_nonces_are_fresh(cipher: crypto.Cipher) -> None:
    assert cipher.encrypt(b"x", "a") != cipher.encrypt(b"x", "a")


def test_another_master_key_cannot_decrypt(cipher: crypto.Cipher) -> None:
    blob = cipher.encrypt(b"x", "a")
    with pytest.raises(InvalidTag):
        crypto.Cipher(bytes(32)).decrypt(blob, "a")


def test_keyed_hashes_differ_by_purpose_and_key(cipher: crypto.Cipher) -> None:
    token = "tok"
    by_purpose = {cipher.keyed_hash(p, token) for p in crypto.HashPurpose}
    assert len(by_purpose) == len(crypto.HashPurpose)
    other = crypto.Cipher(bytes(32)).keyed_hash(crypto.HashPurpose.SESSION_TOKEN, token)
    assert other != cipher.keyed_hash(crypto.HashPurpose.SESSION_TOKEN, token)
    assert cipher.matches(
        crypto.HashPurpose.SESSION_TOKEN, token, cipher.keyed_hash(crypto.HashPurpose.SESSION_TOKEN, token)
    )


def test_cipher_repr_hides_keys(cipher: crypto.Cipher) -> None:
    assert repr(cipher) == "Cipher(<redacted>)"


def test_key_file_is_created_0600_and_reused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db' / 'totpflow.db'}"
    first = crypto.master_key_for_url(url, {})
    path = crypto.key_file_for_database(tmp_path / "db" / "totpflow.db")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert crypto.master_key_for_url(url, {}) == first
    assert len(first) == 32


def test_a_missing_key_file_is_not_made_for_a_sqlite_store_that_holds_projects(tmp_path: Path) -> None:
    """A named key file that does not exist is created for a new store; for one that holds projects (a store
    of a release before the master key check) it is a mistyped path, refused before a key file is left
    there."""
    import sqlite3

    database = tmp_path / "totpflow.db"
    url = f"sqlite:///{database}"
    fresh = tmp_path / "fresh.key"
    key, path = crypto.resolve_master_key(url, {}, str(fresh))
    assert path == fresh and fresh.exists()
    with sqlite3.connect(database) as db:
        db.execute("CREATE TABLE projects (project_id TEXT)")
        db.execute("INSERT INTO projects VALUES ('project-test-1')")
    db.close()
    typo = tmp_path / "typo.key"
    with pytest.raises(errors.MasterKeyError, match="does not exist"):
        crypto.resolve_master_key(url, {}, str(typo))
    assert not typo.exists()
    assert crypto.resolve_master_key(url, {}, str(fresh)) == (key, fresh)  # an existing file is still read


def test_a_sqlite_store_with_a_master_key_check_and_no_project_is_keyed(tmp_path: Path) -> None:
    """The store's check alone (its projects deleted) keys it: a new key would be refused by the check."""
    import sqlite3

    database = tmp_path / "totpflow.db"
    url = f"sqlite:///{database}"
    with sqlite3.connect(database) as db:
        db.execute("CREATE TABLE projects (project_id TEXT)")
        db.execute("CREATE TABLE master_key_check (id INTEGER, check_enc BLOB)")
    db.close()
    assert crypto.resolve_master_key(url, {}, str(tmp_path / "fresh.key"))[1] == tmp_path / "fresh.key"
    with sqlite3.connect(database) as db:
        db.execute("INSERT INTO master_key_check VALUES (1, x'00')")
    db.close()
    typo = tmp_path / "typo.key"
    with pytest.raises(errors.MasterKeyError, match="already keyed"):
        crypto.resolve_master_key(url, {}, str(typo))
    assert not typo.exists()


def test_environment_key_wins_and_postgres_requires_it(tmp_path: Path) -> None:
    text = crypto.new_master_key_text()
    assert crypto.master_key_for_url("postgresql://h/db", {crypto.MASTER_KEY_ENV: text}) == base64.b64decode(
        text
    )
    with pytest.raises(errors.MasterKeyError):
        crypto.master_key_for_url("postgresql://h/db", {})


@pytest.mark.parametrize("bad", ["not base64!", base64.b64encode(b"short").decode()])
def test_malformed_master_key_is_refused_without_echoing_it(bad: str) -> None:
    with pytest.raises(errors.MasterKeyError) as info:
        crypto.decode_master_key(bad)
    assert bad not in str(info.value)


def test_jwk_has_the_nine_fields_and_a_matching_certificate() -> None:
    key = crypto.generate_signing_key("jwk-test-1", datetime(2026, 1, 1, tzinfo=UTC))
    jwk = key.public_jwk
    assert set(jwk) == {"kty", "use", "key_ops", "alg", "kid", "x5c", "x5tS256", "n", "e"}
    assert (jwk["kty"], jwk["use"], jwk["key_ops"], jwk["alg"], jwk["e"]) == (
        "RSA",
        "sig",
        ["verify"],
        "RS256",
        "AQAB",
    )
    der = base64.b64decode(jwk["x5c"][0])
    cert = x509.load_der_x509_certificate(der)
    assert cert.public_key().public_numbers() == key.private_key.public_key().public_numbers()  # type: ignore[union-attr]
    assert jwk["x5tS256"] == base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode()


def test_private_key_round_trips_encrypted_and_bound_to_its_project(cipher: crypto.Cipher) -> None:
    key = crypto.generate_signing_key("jwk-test-2", datetime(2026, 1, 1, tzinfo=UTC))
    blob = crypto.encrypt_private_key(cipher, "project-test-a", key)
    assert b"PRIVATE KEY" not in blob
    restored = crypto.decrypt_private_key(cipher, "project-test-a", "jwk-test-2", blob)
    assert restored.private_numbers() == key.private_key.private_numbers()
    for project_id, kid in (("project-test-b", "jwk-test-2"), ("project-test-a", "jwk-test-3")):
        with pytest.raises(errors.IntegrityFailure):
            crypto.decrypt_private_key(cipher, project_id, kid, blob)


def test_bindings_cannot_imitate_each_other() -> None:
    """Ids are JSON strings in the binding: no separator inside an id makes two owners look alike."""
    assert crypto.totp_secret_binding("p", "u:x", "t") != crypto.totp_secret_binding("p", "u", "x:t")
    assert crypto.totp_secret_binding("p", "u", "t") != crypto.recovery_code_binding("p", "u", "t", "")


@pytest.mark.parametrize("key_size", crypto.RSA_KEY_SIZES)
def test_jwk_matches_only_its_own_private_key(key_size: int) -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    key = crypto.generate_signing_key("jwk-test-4", now, key_size)
    assert key.private_key.key_size == key_size
    assert crypto.jwk_matches(key.private_key, "jwk-test-4", key.public_jwk)
    other = crypto.generate_signing_key("jwk-test-4", now)
    assert not crypto.jwk_matches(key.private_key, "jwk-test-4", other.public_jwk)
    assert not crypto.jwk_matches(key.private_key, "jwk-test-5", key.public_jwk)
    # the right n and e with another key's certificate, or a thumbprint of another certificate
    for field in ("x5c", "x5tS256"):
        assert not crypto.jwk_matches(
            key.private_key, "jwk-test-4", key.public_jwk | {field: other.public_jwk[field]}
        )
    assert not crypto.jwk_matches(key.private_key, "jwk-test-4", key.public_jwk | {"x5c": ["not base64!"]})


def test_other_rsa_key_sizes_are_refused() -> None:
    with pytest.raises(ValueError, match="2048"):
        crypto.generate_signing_key("jwk-test-6", datetime(2026, 1, 1, tzinfo=UTC), 1024)
