"""Tokens, with their positions, for runtime expressions and for the ``simple`` condition language.

A runtime expression (Arazzo 1.0.1 §"Runtime Expressions", grammar as tightened in 1.1.0) is scanned into

    ROOT     ``$url``, ``$steps``, …  (``$`` followed by letters)
    DOT      ``.``
    WORD     a run of characters that are none of ``. # [ ]`` and no stop character
    HASH     ``#`` — everything after it, up to a stop character, is one POINTER token (RFC 6901)
    POINTER  the JSON Pointer text after ``#`` (may be empty)
    LBRACKET / RBRACKET  ``[`` ``]`` (non-spec index access, ``$steps.x.outputs.arr[0]``)

Where an expression ends depends on where it is written: a whole value runs to the end of the text, an
embedded ``{$…}`` ends at ``}`` (1.1.0 excludes ``{``/``}`` from ``CHAR`` and JSON-pointer tokens for exactly
this reason), and an operand of a ``simple`` condition ends at white space or at one of ``( ) = ! < > & |``.

The condition lexer produces NUMBER, STRING (``'…'`` with ``''`` as an escaped quote, already unescaped),
KEYWORD (``true`` ``false`` ``null``), OP, LPAREN, RPAREN, EXPR (a runtime expression span carrying its own
tokens) and EOF.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from totpflow.arazzo.errors import ConditionError, ExpressionError

TokenKind = Literal[
    "ROOT",
    "DOT",
    "WORD",
    "HASH",
    "POINTER",
    "LBRACKET",
    "RBRACKET",
    "NUMBER",
    "STRING",
    "KEYWORD",
    "OP",
    "LPAREN",
    "RPAREN",
    "EXPR",
    "EOF",
]


class Token(msgspec.Struct, frozen=True):
    kind: TokenKind
    text: str  # as written, except STRING, whose quotes are removed and '' unescaped
    pos: int  # 0-based offset of the token's first character in the scanned text
    end: int  # offset just past the token
    parts: tuple[Token, ...] = ()  # EXPR only: the runtime expression's tokens


NO_STOP: frozenset[str] = frozenset()
TEMPLATE_STOP: frozenset[str] = frozenset("}")
# An operand of a `simple` condition ends at white space or at a character that starts an operator.
CONDITION_STOP: frozenset[str] = frozenset(" \t\r\n()=!<>&|")

_STRUCTURAL = frozenset(".#[]")


def scan_expression(text: str, start: int = 0, stop: frozenset[str] = NO_STOP) -> tuple[list[Token], int]:
    """Scan the runtime expression at ``text[start]`` (a ``$``); return its tokens and its end offset."""
    if start >= len(text) or text[start] != "$":
        raise ExpressionError(text, start, "a runtime expression starts with '$'")
    n = len(text)
    i = start + 1
    while i < n and (text[i].isascii() and text[i].isalpha()):
        i += 1
    tokens = [Token("ROOT", text[start:i], start, i)]
    while i < n:
        ch = text[i]
        if ch in stop:
            break
        if ch == ".":
            tokens.append(Token("DOT", ch, i, i + 1))
            i += 1
        elif ch == "[":
            tokens.append(Token("LBRACKET", ch, i, i + 1))
            i += 1
        elif ch == "]":
            tokens.append(Token("RBRACKET", ch, i, i + 1))
            i += 1
        elif ch == "#":
            tokens.append(Token("HASH", ch, i, i + 1))
            j = i + 1
            while j < n and text[j] not in stop:
                j += 1
            tokens.append(Token("POINTER", text[i + 1 : j], i + 1, j))
            i = j
        else:
            j = i
            while j < n and text[j] not in stop and text[j] not in _STRUCTURAL:
                j += 1
            tokens.append(Token("WORD", text[i:j], i, j))
            i = j
    return tokens, i


_TWO_CHAR_OPS = ("==", "!=", "<=", ">=", "&&", "||")
_KEYWORDS = frozenset({"true", "false", "null"})


def tokenize_condition(text: str) -> list[Token]:
    """Split a ``simple`` condition into tokens; ConditionError (with the offset) on a bad character."""
    tokens: list[Token] = []
    n = len(text)
    i = 0
    while i < n:
        ch = text[i]
        if ch in " \t\r\n":
            i += 1
            continue
        two = text[i : i + 2]
        if two in _TWO_CHAR_OPS:
            tokens.append(Token("OP", two, i, i + 2))
            i += 2
        elif ch in "<>!":
            tokens.append(Token("OP", ch, i, i + 1))
            i += 1
        elif ch == "=":
            raise ConditionError(text, i, "'=' is not an operator; use '=='")
        elif ch in "&|":
            raise ConditionError(text, i, f"'{ch}' is not an operator; use '{ch}{ch}'")
        elif ch == "(":
            tokens.append(Token("LPAREN", ch, i, i + 1))
            i += 1
        elif ch == ")":
            tokens.append(Token("RPAREN", ch, i, i + 1))
            i += 1
        elif ch == "'":
            tokens.append(_scan_string(text, i))
            i = tokens[-1].end
        elif ch == "$":
            try:
                parts, end = scan_expression(text, i, CONDITION_STOP)
            except ExpressionError as exc:
                raise ConditionError(text, exc.position, exc.message) from None
            tokens.append(Token("EXPR", text[i:end], i, end, tuple(parts)))
            i = end
        elif ch in _DIGITS or (ch == "-" and i + 1 < n and text[i + 1] in _DIGITS):
            tokens.append(_scan_number(text, i))
            i = tokens[-1].end
        elif ch.isascii() and ch.isalpha():
            j = i
            while j < n and text[j].isascii() and (text[j].isalnum() or text[j] == "_"):
                j += 1
            word = text[i:j]
            if word not in _KEYWORDS:
                raise ConditionError(
                    text, i, f"unexpected word {word!r}: strings are written in single quotes"
                )
            tokens.append(Token("KEYWORD", word, i, j))
            i = j
        else:
            raise ConditionError(text, i, f"unexpected character {ch!r}")
    tokens.append(Token("EOF", "", n, n))
    return tokens


def _scan_string(text: str, start: int) -> Token:
    """A single-quoted literal; a quote inside is doubled (Arazzo 1.0.1 §"Criterion Object" Literals)."""
    chars: list[str] = []
    i = start + 1
    n = len(text)
    while i < n:
        if text[i] == "'":
            if i + 1 < n and text[i + 1] == "'":
                chars.append("'")
                i += 2
                continue
            return Token("STRING", "".join(chars), start, i + 1)
        chars.append(text[i])
        i += 1
    raise ConditionError(text, start, "unterminated string literal")


_DIGITS = frozenset("0123456789")  # a JSON number's digits are ASCII (str.isdigit also takes ² and ٣)


def _scan_number(text: str, start: int) -> Token:
    """A JSON number (RFC 8259 §6): ``-? int frac? exp?``."""
    n = len(text)
    i = start
    if text[i] == "-":
        i += 1
    if text[i] == "0":
        i += 1
    else:
        while i < n and text[i] in _DIGITS:
            i += 1
    if i < n and text[i] == ".":
        j = i + 1
        while j < n and text[j] in _DIGITS:
            j += 1
        if j == i + 1:
            raise ConditionError(text, i, "a digit must follow the decimal point")
        i = j
    if i < n and text[i] in "eE":
        j = i + 1
        if j < n and text[j] in "+-":
            j += 1
        k = j
        while k < n and text[k] in _DIGITS:
            k += 1
        if k == j:
            raise ConditionError(text, i, "a digit must follow the exponent")
        i = k
    if i < n and (text[i].isalnum() or text[i] in "_."):
        raise ConditionError(text, i, "malformed number")
    return Token("NUMBER", text[start:i], start, i)
