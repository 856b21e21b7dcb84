"""Formats of ids, tokens, secrets and recovery codes (stytch-api.md §2.3, §6)."""

from __future__ import annotations

import base64
import re
from collections import Counter

import pytest

from totpflow.server.domain import ids, recovery, tokens

UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"


def test_ids() -> None:
    for factory, prefix in [
        (ids.user_id, "user-test-"),
        (ids.totp_id, "totp-test-"),
        (ids.session_id, "session-test-"),
        (ids.email_id, "email-test-"),
        (ids.phone_id, "phone-number-test-"),
        (ids.recovery_code_id, "totp-recovery-code-test-"),
        (ids.request_id, "request-id-test-"),
        (ids.jwk_id, "jwk-test-"),
        (ids.project_id, "project-test-"),
    ]:
        assert re.fullmatch(re.escape(prefix) + UUID, factory())


def test_project_secret() -> None:
    secret = ids.project_secret()
    assert secret.startswith("secret-test-")
    assert len(base64.urlsafe_b64decode(secret.removeprefix("secret-test-"))) == 26


def test_session_token() -> None:
    token = tokens.new_session_token()
    assert len(token) == 44 and tokens.is_well_formed(token)


def test_recovery_codes() -> None:
    codes = recovery.new_codes()
    assert len(codes) == 10 and len(set(codes)) == 10
    assert all(re.fullmatch(r"[a-z0-9]{4}-[a-z0-9]{4}-[a-z0-9]{4}", c) for c in codes)
    assert not recovery.is_well_formed("ABCD-1234-abcd")


def test_recovery_code_characters_are_uniform() -> None:
    """Every character of the alphabet comes from the same number of byte values, and the bytes beyond the
    last whole multiple of 36 are dropped rather than reduced (a modulo bias would favour ``a``–``d``)."""
    table = recovery._TO_CHARACTER
    kept = [byte for byte in range(256) if byte not in recovery._DROPPED]
    counts = Counter(chr(table[byte]) for byte in kept)
    assert set(counts) == set(recovery.ALPHABET)
    assert set(counts.values()) == {256 // len(recovery.ALPHABET)}
    assert len(kept) == 256 - 256 % len(recovery.ALPHABET)


def test_recovery_codes_drawn_again_when_bytes_are_dropped(monkeypatch: pytest.MonkeyPatch) -> None:
    """A read whose bytes are all dropped yields no character: the codes come from the next read."""
    reads = iter([b"\xff" * 128, bytes(range(128))])
    monkeypatch.setattr(recovery.secrets, "token_bytes", lambda size: next(reads)[:size])
    codes = recovery.new_codes()
    expected = "".join(recovery.ALPHABET[byte % 36] for byte in range(120))
    assert "".join(code.replace("-", "") for code in codes) == expected
