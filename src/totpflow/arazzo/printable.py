"""Text from documents and API responses as a terminal shows it: written, never obeyed.

    printable(value) -> str             one line: every character below as a Python escape
    printable_lines(text) -> list[str]  a body shown by ``-v``: a line break starts a line, a tab is spaces

A response body, a header, an output value or a document's string can hold characters a terminal acts on
rather than shows: C0 controls (ESC starts sequences that clear the screen, move the cursor or set the
window title; BEL, BS, CR rewrite what is shown), DEL, C1 controls (U+009B is CSI on some terminals),
format characters (bidi overrides and isolates such as U+202E reorder the rest of the line; zero-width
characters hide differences), lone surrogates (which cannot even be encoded as UTF-8) and the line and
paragraph separators U+2028 and U+2029. ``printable`` writes each as its Python escape (``\\x1b``, ``\\x07``,
``\\n``, ``\\u202e``, ``\\ud800``); every other character, non-ASCII letters, emoji and spaces included, is
kept. A backslash is not doubled: the escape is for a person reading, and the reports in files (JSON,
JUnit, HAR) keep the exact text.
"""

from __future__ import annotations

import re
import unicodedata

_HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
_LINE_BREAK = re.compile(r"\r\n|\n")


def _escaped(char: str) -> str:
    if unicodedata.category(char) in _HIDDEN_CATEGORIES:
        return repr(char)[1:-1]  # '\x1b', '\n', '\u202e', '\ud800'
    return char


def printable(value: object) -> str:
    """``str(value)`` with every control, format and separator character written as its escape."""
    text = "" if value is None else str(value)
    if text.isprintable():  # the usual case: nothing to escape
        return text
    return "".join(_escaped(char) for char in text)


def printable_lines(text: str) -> list[str]:
    """A multi-line text (a request or response body) as the lines a terminal shows: a line feed (or CR LF)
    ends a line, a tab becomes spaces to the next multiple of 8 columns, and anything else ``printable``
    escapes, a lone CR included (it would move the cursor back over what is shown)."""
    return [printable(line.expandtabs(8)) for line in _LINE_BREAK.split(text)]
