"""Asking for an input on an interactive terminal."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

from totpflow.arazzo.errors import InputError
from totpflow.arazzo.printable import printable


class PromptSubject(Protocol):
    """What a terminal prompt needs to know about the input asked for (``engine.options.PromptRequest``
    fits)."""

    @property
    def name(self) -> str: ...

    @property
    def schema(self) -> Mapping[str, Any]: ...


def terminal_prompt(
    preamble: Callable[[Any], None] | None = None,
    *,
    ask: Callable[[str], str] = input,
    ask_secret: Callable[[str], str] | None = None,
) -> Callable[[PromptSubject], str]:
    """A prompt callback for an interactive terminal. ``preamble(subject)`` runs first (the CLI draws the QR
    code a step just returned there); a ``format: password`` input is read without echo (``ask_secret``,
    by default ``getpass.getpass``, imported only then)."""

    def prompt(subject: PromptSubject) -> str:
        if preamble is not None:
            preamble(subject)
        schema = subject.schema
        description = schema.get("description")
        label = printable(  # the document's text, shown and never obeyed
            f"{subject.name} ({description})"
            if isinstance(description, str) and description
            else subject.name
        )
        reader = ask
        if schema.get("format") == "password":
            if ask_secret is None:
                from getpass import getpass

                reader = getpass
            else:
                reader = ask_secret
        try:
            return reader(f"{label}: ")
        except EOFError as exc:
            raise InputError(subject.name, "no value given (end of input)") from exc

    return prompt
