"""totpflow: self-hosted TOTP enrollment.

``totpflow.server`` is a Stytch-compatible auth server (users, TOTP, recovery codes, sessions, JWKS);
``totpflow.arazzo`` is an Arazzo 1.0.1 workflow runner. Neither imports the other;
``totpflow.cli`` joins them.
"""

__version__ = "0.1.0"
