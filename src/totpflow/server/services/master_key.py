"""Is this process's master key the store's? Checked before anything is written with it.

Everything a store keeps secret is encrypted or keyed under one master key: TOTP secrets, recovery codes,
signing keys, the hashes of project secrets and session tokens. A process holding another key (a mistyped
``--master-key-file``, another store's ``TOTPFLOW_MASTER_KEY``) would write rows that no process holding the
store's key can open: a project secret reset so can never be used, and the old one is gone.

So the store holds a check: a fixed value encrypted under its master key (``master_key_check``). A key that
does not decrypt it is refused (``MasterKeyError``) and nothing is written. A store without the check (new,
or written by a release before it) first shows that the key opens what it already holds, its newest signing
key or else a TOTP secret, and then gets the check, in the same transaction. A store that holds nothing
encrypted yet (only projects, or nothing) takes the key it is first checked with.

Commands that only read (``users list``, ``project list``) are checked too (:func:`check_master_key`,
read only): a wrong key would otherwise go unnoticed until the next write or ``serve`` refused it.
"""

from __future__ import annotations

from typing import Final

from cryptography.exceptions import InvalidTag

from totpflow.server import errors
from totpflow.server.crypto import Cipher, binding, signing_key_binding, totp_secret_binding
from totpflow.server.services.deps import Deps
from totpflow.server.storage.protocol import Transaction

_CHECK: Final = b"totpflow master key check"
_CHECK_BINDING: Final = binding("master-key-check")
REFUSED: Final = (
    "the master key is not the one this store was written with (--master-key-file, TOTPFLOW_MASTER_KEY_FILE "
    "or TOTPFLOW_MASTER_KEY): nothing was changed"
)


def verify_master_key(deps: Deps) -> None:
    """``MasterKeyError`` unless ``deps.cipher`` holds the store's master key (see the module docstring)."""
    with deps.store.transaction() as tx:
        verify_in(tx, deps)


def check_master_key(deps: Deps) -> None:
    """:func:`verify_master_key` in a read-only transaction: it writes no check into a store that has none
    (a store holding nothing encrypted yet accepts any key)."""
    with deps.store.transaction(readonly=True) as tx:
        _opens_what_is_held(tx, deps.cipher)


def verify_in(tx: Transaction, deps: Deps) -> None:
    """:func:`verify_master_key` inside a transaction that goes on to write with the key."""
    if _opens_what_is_held(tx, deps.cipher):
        return
    tx.insert_master_key_check(deps.cipher.encrypt(_CHECK, _CHECK_BINDING), deps.now())
    # Another process may have written its check first (the insert then did nothing): the stored one decides.
    written = tx.master_key_check()
    assert written is not None
    _open(deps.cipher, written, _CHECK_BINDING)


def _opens_what_is_held(tx: Transaction, cipher: Cipher) -> bool:
    """``MasterKeyError`` unless ``cipher`` opens the store's check, or without one a sample of what the
    store holds encrypted; whether the store has its check."""
    stored = tx.master_key_check()
    if stored is not None:
        _open(cipher, stored, _CHECK_BINDING)
        return True
    sample = tx.encrypted_sample()
    if sample is not None:
        if sample.kind == "signing-key":
            _open(cipher, sample.ciphertext, signing_key_binding(*sample.owners))
        else:
            _open(cipher, sample.ciphertext, totp_secret_binding(*sample.owners))
    return False


def _open(cipher: Cipher, ciphertext: bytes, associated_data: str) -> None:
    try:
        cipher.decrypt(ciphertext, associated_data)
    except InvalidTag:
        raise errors.MasterKeyError(REFUSED) from None
