"""Pure domain code: records, ids, RFC 6238 TOTP, recovery codes, tokens, session JWT claims, QR codes.

No framework or database imports: the standard library plus PyJWT/cryptography (``jwt``) and zxing-cpp
(``qr``). Time is always an argument.
"""
