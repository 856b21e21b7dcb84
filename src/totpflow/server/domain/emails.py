"""The unique key of an email address within a project (docs/stytch-compatibility.md, "Email addresses").

Two spellings of one address must be one user: the key is the address lower-cased between two Unicode NFC
normalisations, ``NFC(lower(NFC(address)))``. The inner NFC makes canonically equivalent spellings (a
composed ``é``, U+00E9, and ``e`` followed by U+0301) one string before lower-casing; the outer one composes
what lower-casing decomposed (U+0130 lower-cases to ``i`` and U+0307). NFC, not NFKC: NFKC would also merge
compatibility forms (the ligature ``ﬁ``, full-width letters) that a mail server may deliver to different
mailboxes; IDNA 2008 and RFC 6532 (internationalised email) work with NFC. The stored ``email`` stays as the
user wrote it; only the key is normalised. NFC can lengthen a string, so a length limit applies to the key.

A fragment of an address (the ``email_address_fuzzy`` search) is not a key: lower-casing writes capital
sigma as final ``ς`` at the end of a word and as ``σ`` elsewhere (Unicode's Final_Sigma rule, which
``str.lower`` applies), so ``ΟΔΟΣ`` cut from ``ΟΔΟΣΤ@…`` lower-cases to ``οδος`` while the key holds
``οδοστ``. Fragment and key are therefore compared in :func:`sigma_folded` form, ``ς`` read as ``σ`` (as
Unicode case folding reads it), on both sides.
"""

from __future__ import annotations

import unicodedata

FINAL_SIGMA = "\u03c2"  # ς, what lower-casing writes for Σ at the end of a word
SIGMA = "\u03c3"  # σ, what it writes elsewhere, and what case folding writes for both


def sigma_folded(text: str) -> str:
    """``text`` with final sigma read as sigma: the form in which a lower-cased fragment and a lower-cased
    whole value agree wherever the fragment was cut (see the module's notes)."""
    return text.replace(FINAL_SIGMA, SIGMA)


def email_key(address: str) -> str:
    """``NFC(lower(NFC(address)))``: equal for the spellings of an address that differ only in case or in
    Unicode canonical equivalence."""
    return unicodedata.normalize("NFC", unicodedata.normalize("NFC", address).lower())
