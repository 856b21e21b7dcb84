"""A time bound on regular expressions that can backtrack catastrophically.

``regress`` is a backtracking engine, as ECMA-262 engines are: a pattern with a quantified group that itself
repeats or alternates (``^(a+)+$``, ``(a|aa)*``) or a backreference can take time exponential in the text's
length, and the engine holds the interpreter while it runs, so no timer in this process can stop it. Such a
pattern (:func:`needs_guard`, a scan of its syntax) is therefore matched in a worker process that is killed
when it takes longer than the bound, and a new one started for the next match; every other pattern is
matched in process, as before. The worker is one per runner process, started on the first guarded match
(an interpreter start, once) and stopped at exit.
"""

from __future__ import annotations

import atexit
import select
import subprocess
import sys
import threading
import time

import msgspec

from totpflow.arazzo.errors import EvaluationError

# The longest a guarded match may take: far more than any pattern a workflow needs on any response.
MATCH_TIMEOUT_SECONDS = 5.0
_QUANTIFIERS = frozenset("*+?{")


class RegexTimeout(EvaluationError):
    """A guarded match did not finish within its bound."""


def needs_guard(pattern: str) -> bool:
    """Whether ``pattern`` may backtrack catastrophically: a quantified group that contains a quantifier
    or an alternation, or a backreference. A scan of the syntax that errs on the side of the guard."""
    stack: list[bool] = []  # per open group: whether it holds a quantifier or an alternation
    closed_risky = False  # the group just closed held one
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            following = pattern[i + 1 : i + 2]
            if (following.isdigit() and following != "0") or following == "k":
                return True  # a backreference
            i += 2
            closed_risky = False
            continue
        if char == "[":  # a class: skip to its end (escapes included)
            i += 1
            while i < len(pattern) and pattern[i] != "]":
                i += 2 if pattern[i] == "\\" else 1
            i += 1
            closed_risky = False
            continue
        if char == "(":
            stack.append(False)
        elif char == ")":
            risky = stack.pop() if stack else False
            closed_risky = risky
            if stack and risky:
                stack[-1] = True
            i += 1
            continue
        elif char in _QUANTIFIERS and not (char == "?" and pattern[i - 1 : i] == "("):
            if closed_risky:
                return True
            if stack:
                stack[-1] = True
        elif char == "|" and stack:
            stack[-1] = True
        closed_risky = False
        i += 1
    return False


class _Worker:
    """A child interpreter running :func:`serve`; requests and answers over its pipes."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", __name__],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )

    def find(self, source: str, flags: str, sticky: bool, text: str, timeout: float) -> bool:
        assert self.process.stdin is not None and self.process.stdout is not None
        request = msgspec.msgpack.encode((source, flags, sticky, text))
        self.process.stdin.write(len(request).to_bytes(4, "big") + request)
        self.process.stdin.flush()
        ends = time.monotonic() + timeout
        while True:
            left = ends - time.monotonic()
            ready, _, _ = select.select([self.process.stdout], [], [], max(left, 0))
            if ready:
                answer = self.process.stdout.read(1)
                if answer not in (b"0", b"1"):
                    raise OSError("the regular expression worker stopped")
                return answer == b"1"
            if left <= 0:
                raise TimeoutError

    def stop(self) -> None:
        self.process.kill()
        self.process.wait()


_lock = threading.Lock()
_worker: _Worker | None = None


def guarded_find(source: str, flags: str, sticky: bool, text: str, timeout: float) -> bool:
    """Whether ``source`` (with ``flags``; ``sticky``: at the start only) matches ``text``, in the worker;
    :class:`RegexTimeout` after ``timeout`` seconds (the worker is then replaced)."""
    global _worker
    with _lock:
        for attempt in range(2):  # a worker that died (killed from outside) is replaced once
            if _worker is None:
                _worker = _Worker()
            try:
                return _worker.find(source, flags, sticky, text, timeout)
            except TimeoutError:
                _worker.stop()
                _worker = None
                raise RegexTimeout(
                    source, f"matching did not finish within {timeout:g} s (the pattern backtracks)"
                ) from None
            except OSError:
                _worker.stop()
                _worker = None
                if attempt:
                    raise
        raise AssertionError("unreachable")


@atexit.register
def _stop_worker() -> None:
    if _worker is not None:
        _worker.stop()


def serve() -> None:
    """The worker: read requests from stdin, answer ``1`` (a match) or ``0`` on stdout, until stdin ends."""
    import regress

    source_in, answer_out = sys.stdin.buffer, sys.stdout.buffer
    compiled: dict[tuple[str, str], regress.Regex] = {}
    while len(head := source_in.read(4)) == 4:
        source, flags, sticky, text = msgspec.msgpack.decode(source_in.read(int.from_bytes(head, "big")))
        regex = compiled.get((source, flags))
        if regex is None:
            regex = compiled[(source, flags)] = regress.Regex(source, flags or None)
        match = regex.find(text)
        found = match is not None and (not sticky or match.range().start == 0)
        answer_out.write(b"1" if found else b"0")
        answer_out.flush()


if __name__ == "__main__":
    serve()
