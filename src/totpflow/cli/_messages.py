"""A command's one-line messages on stderr: text from documents and API responses that they quote is shown,
never obeyed (``totpflow.arazzo.printable``)."""

from __future__ import annotations

import sys


def err(text: str) -> None:
    from totpflow.arazzo.printable import printable

    sys.stderr.write(printable(text) + "\n")
