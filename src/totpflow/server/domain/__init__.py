"""Pure domain code: records, ids, RFC 6238 TOTP, recovery codes, tokens, QR. Standard library only
(plus pyotp and the QR encoder), no framework or database imports."""
