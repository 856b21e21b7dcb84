"""A Stytch-compatible server for users, TOTP, recovery codes, sessions and JWKS.

Layers (dependencies point down): ``http`` (the only package that knows the web framework) → ``services``
(use cases; take a store, a clock and a cipher as arguments) → ``domain`` (pure) and ``storage`` (SQLite or
PostgreSQL behind one interface) and ``crypto``. This package never imports the Arazzo runner.
"""
