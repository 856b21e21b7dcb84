"""ECMA-262 regular expressions, translated to Python ``re`` for ``regex`` criteria.

Arazzo 1.0.1 names no regex dialect; the current specification source pins ECMA-262 (OAI issue #515), which is
also what JavaScript runners execute. The translation covers the syntax real documents use:

* ``/pattern/flags`` literals (as Redocly accepts): flags ``i`` ``m`` ``s`` map to ``re`` flags, ``y``
  (sticky) anchors the match at the start, ``g`` ``d`` ``u`` ``v`` do not change a yes/no test. The literal
  form is recognised only when the text between the slashes has no unescaped ``/`` outside a class, so a plain
  pattern such as ``/api/v1/`` keeps its meaning;
* named groups ``(?<name>…)`` → ``(?P<name>…)`` and ``\\k<name>`` → ``(?P=name)``;
* ``$`` outside a class and without the ``m`` flag matches only at the very end (``\\Z``), as in ECMA-262
  (Python's ``$`` would also match before a final newline);
* ``[^]`` (any character) and ``[]`` (nothing), ``\\cX`` control escapes, ``\\u{…}`` code points;
* ``\\d`` ``\\w`` ``\\b`` are ASCII-only as in ECMA-262 (``re.ASCII``). Known deviations: under ``re.ASCII``
  ``\\s`` and case-insensitive matching are ASCII-only too, and ``.`` also matches ``\\r``, U+2028, U+2029.
  Unicode property escapes (``\\p{…}``) are rejected.

A match is searched anywhere in the text (``re.search``): the spec's example ``^200$`` shows that anchors are
written explicitly.
"""

from __future__ import annotations

import re
from functools import lru_cache

import msgspec

_FLAGS = {"i": re.IGNORECASE, "m": re.MULTILINE, "s": re.DOTALL}
_IGNORED_FLAGS = frozenset("gduvy")


class RegexSyntaxError(ValueError):
    def __init__(self, position: int, message: str) -> None:
        super().__init__(message)
        self.position = position
        self.message = message


class EcmaRegex(msgspec.Struct, frozen=True):
    source: str  # the pattern as written (without /…/ delimiters)
    flags: str
    compiled: re.Pattern[str]
    sticky: bool

    def test(self, text: str) -> bool:
        return (self.compiled.match(text) if self.sticky else self.compiled.search(text)) is not None


def split_literal(text: str) -> tuple[str, str, int]:
    """``(pattern, flags, offset of the pattern in text)``; plain patterns come back with no flags."""
    if len(text) < 2 or not text.startswith("/"):
        return text, "", 0
    close = text.rfind("/")
    if close <= 0:
        return text, "", 0
    body, flags = text[1:close], text[close + 1 :]
    if not body or any(f not in "dgimsuvy" for f in flags) or len(set(flags)) != len(flags):
        return text, "", 0
    in_class = False
    i = 0
    while i < len(body):
        ch = body[i]
        if ch == "\\":
            i += 2
            continue
        if ch == "[":
            in_class = True
        elif ch == "]":
            in_class = False
        elif ch == "/" and not in_class:
            return text, "", 0
        i += 1
    return body, flags, 1


def translate(pattern: str, flags: str = "") -> str:
    """The Python ``re`` spelling of an ECMA-262 pattern; RegexSyntaxError for what Python cannot express."""
    out: list[str] = []
    multiline = "m" in flags
    in_class = False
    class_start = False
    i = 0
    n = len(pattern)
    while i < n:
        ch = pattern[i]
        if ch == "\\":
            if i + 1 >= n:
                raise RegexSyntaxError(i, "the pattern ends with a lone backslash")
            nxt = pattern[i + 1]
            if nxt == "k" and not in_class and i + 2 < n and pattern[i + 2] == "<":
                close = pattern.find(">", i + 3)
                if close == -1:
                    raise RegexSyntaxError(i, "unterminated \\k<name>")
                out.append(f"(?P={pattern[i + 3 : close]})")
                i = close + 1
                continue
            if nxt in "pP":
                raise RegexSyntaxError(i, "Unicode property escapes (\\p{…}) are not supported")
            if nxt == "c" and i + 2 < n and pattern[i + 2].isascii() and pattern[i + 2].isalpha():
                out.append(f"\\x{ord(pattern[i + 2]) % 32:02x}")
                i += 3
                continue
            if nxt == "u" and i + 2 < n and pattern[i + 2] == "{":
                close = pattern.find("}", i + 3)
                if close == -1:
                    raise RegexSyntaxError(i, "unterminated \\u{…} escape")
                try:
                    code = int(pattern[i + 3 : close], 16)
                except ValueError:
                    raise RegexSyntaxError(i, "malformed \\u{…} escape") from None
                out.append(f"\\U{code:08x}")
                i = close + 1
                continue
            out.append(pattern[i : i + 2])
            i += 2
            class_start = False
            continue
        if in_class:
            if ch == "]" and not class_start:
                in_class = False
            elif ch == "[":
                out.append("\\[")  # a literal '[' inside a class (Python warns about nested sets)
                i += 1
                class_start = False
                continue
            class_start = False
            out.append(ch)
            i += 1
            continue
        if ch == "[":
            if pattern.startswith("[^]", i):
                out.append(r"[\s\S]")
                i += 3
                continue
            if pattern.startswith("[]", i):
                out.append("(?!)")
                i += 2
                continue
            in_class = True
            class_start = True
            out.append(ch)
            if i + 1 < n and pattern[i + 1] == "^":
                out.append("^")
                i += 1
            i += 1
            continue
        if ch == "(" and pattern.startswith("(?<", i) and i + 3 < n and pattern[i + 3] not in "=!":
            out.append("(?P<")
            i += 3
            continue
        if ch == "$" and not multiline:
            out.append(r"\Z")
            i += 1
            continue
        out.append(ch)
        i += 1
    if in_class:
        raise RegexSyntaxError(n, "unterminated character class")
    return "".join(out)


@lru_cache(maxsize=2048)
def compile_ecma(text: str) -> EcmaRegex:
    """Compile a pattern (plain or ``/…/flags``); RegexSyntaxError with an offset into ``text``."""
    pattern, flags, offset = split_literal(text)
    re_flags = re.ASCII
    for flag in flags:
        re_flags |= _FLAGS.get(flag, 0)
        if flag not in _FLAGS and flag not in _IGNORED_FLAGS:
            raise RegexSyntaxError(len(text) - len(flags), f"unknown regex flag {flag!r}")
    try:
        python = translate(pattern, flags)
    except RegexSyntaxError as exc:
        raise RegexSyntaxError(exc.position + offset, exc.message) from None
    try:
        compiled = re.compile(python, re_flags)
    except re.error as exc:
        position = offset + min(exc.pos or 0, len(pattern))
        raise RegexSyntaxError(position, f"invalid regular expression: {exc.msg}") from None
    return EcmaRegex(pattern, flags, compiled, "y" in flags)
