"""The unique key of an email address: ``NFC(lower(NFC(address)))`` (``domain.emails.email_key``)."""

from __future__ import annotations

import pytest

from totpflow.server import errors
from totpflow.server.domain.emails import email_key
from totpflow.server.services import validation


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("zo\u00e9@x.io", "zoe\u0301@x.io"),  # composed / decomposed é
        ("ZO\u00c9@X.IO", "zoe\u0301@x.io"),  # and case
        ("bob@b\u00fccher.example", "bob@bu\u0308cher.example"),  # an IDN domain in two normal forms
        ("e\u0301\u0323@y.io", "e\u0323\u0301@y.io"),  # combining marks in either order
        ("\u212b@x.io", "\u00e5@x.io"),  # ANGSTROM SIGN is canonically Å
    ],
)
def test_canonically_equivalent_spellings_share_a_key(one: str, other: str) -> None:
    assert email_key(one) == email_key(other)


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("\ufb01le@x.io", "file@x.io"),  # the ligature ﬁ: a compatibility form, NFKC would merge it
        ("\uff41@x.io", "a@x.io"),  # FULLWIDTH LATIN SMALL LETTER A
    ],
)
def test_compatibility_forms_stay_apart(one: str, other: str) -> None:
    assert email_key(one) != email_key(other)


def test_the_key_is_nfc_after_lower_casing() -> None:
    # U+0130 lower-cases to i + U+0307, which has no composed form: the key is two code points
    assert email_key("\u0130@x.io") == "i\u0307@x.io"
    assert email_key("\u00c5@x.io") == "\u00e5@x.io"


def test_the_length_limit_applies_to_the_key() -> None:
    # U+FB2C is three code points under NFC: 89 characters as given, 257 as a key
    address = "a@" + "\ufb2c" * 84 + ".co"
    assert len(address) == 89 and len(email_key(address)) == 257
    with pytest.raises(errors.InvalidEmail):
        validation.email(address)
    assert validation.email("a@" + "\ufb2c" * 83 + ".co") == "a@" + "\ufb2c" * 83 + ".co"  # key 254
