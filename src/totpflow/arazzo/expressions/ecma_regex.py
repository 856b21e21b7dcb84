"""ECMA-262 regular expressions for ``regex`` criteria, run by ``regress`` (an ECMA-262 regex engine).

Arazzo 1.0.1 names no regex dialect; the current specification source pins ECMA-262 (OAI issue #515), which is
also what JavaScript runners execute. ``regress`` implements that dialect itself, so nothing is translated:
named groups and ``\\k<name>``, ``$`` at the end of input only, ``[^]`` and ``[]``, ``\\cX``, ASCII ``\\d``
``\\w`` ``\\b`` beside Unicode ``\\s`` and case folding, ``.`` excluding every line terminator, ``\\p{…}``
with the ``u`` flag (without it, ``\\p`` is the letter, Annex B). It replaced a translation to Python ``re``
that differed from ECMA-262 on the last four points; ``bench/bench_regex.py`` measures both engines
(docs/conformance.md has the numbers).

``/pattern/flags`` literals are accepted (as Redocly accepts them): flags ``i`` ``m`` ``s`` ``u`` ``v`` go to
the engine, ``y`` (sticky) anchors the match at the start, ``g`` ``d`` do not change a yes/no test. The
literal form is recognised only when the text between the slashes has no unescaped ``/`` outside a class, so a
plain pattern such as ``/api/v1/`` keeps its meaning.

A match is searched anywhere in the text: the spec's example ``^200$`` shows that anchors are written
explicitly. The engine is imported when the first regex criterion is compiled. A pattern that can backtrack
catastrophically is matched under a time bound (``regex_guard``).
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

import msgspec

if TYPE_CHECKING:
    import regress

_ENGINE_FLAGS = frozenset("imsuv")
_IGNORED_FLAGS = frozenset("gdy")


class RegexSyntaxError(ValueError):
    def __init__(self, position: int, message: str) -> None:
        super().__init__(message)
        self.position = position
        self.message = message


class EcmaRegex(msgspec.Struct, frozen=True):
    source: str  # the pattern as written (without /…/ delimiters)
    flags: str
    compiled: regress.Regex
    sticky: bool
    guarded: bool = False  # it may backtrack catastrophically: matched in a worker, under a time bound

    def test(self, text: str) -> bool:
        """Whether the pattern matches somewhere in ``text``; ``regex_guard.RegexTimeout`` when a guarded
        pattern takes longer than ``regex_guard.MATCH_TIMEOUT_SECONDS``."""
        if self.guarded:
            from totpflow.arazzo.expressions import regex_guard

            engine_flags = "".join(f for f in self.flags if f in _ENGINE_FLAGS)
            return regex_guard.guarded_find(
                self.source, engine_flags, self.sticky, text, regex_guard.MATCH_TIMEOUT_SECONDS
            )
        match = self.compiled.find(text)
        # the leftmost match starts at 0 whenever any match does, so sticky needs no second search
        return match is not None and (not self.sticky or match.range().start == 0)


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


@lru_cache(maxsize=2048)
def compile_ecma(text: str) -> EcmaRegex:
    """Compile a pattern (plain or ``/…/flags``); RegexSyntaxError with an offset into ``text`` (the pattern's
    start: the engine names what is wrong, not where)."""
    import regress

    pattern, flags, offset = split_literal(text)
    for flag in flags:
        if flag not in _ENGINE_FLAGS and flag not in _IGNORED_FLAGS:
            raise RegexSyntaxError(len(text) - len(flags), f"unknown regex flag {flag!r}")
    try:
        compiled = regress.Regex(pattern, "".join(f for f in flags if f in _ENGINE_FLAGS) or None)
    except regress.RegressError as exc:
        raise RegexSyntaxError(offset, f"invalid regular expression: {exc}") from None
    from totpflow.arazzo.expressions.regex_guard import needs_guard

    return EcmaRegex(pattern, flags, compiled, "y" in flags, needs_guard(pattern))
