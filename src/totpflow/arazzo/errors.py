"""Errors of the Arazzo runner. Every error that points into a document carries its location (an RFC 6901
JSON Pointer) so messages read ``/workflows/0/steps/2/successCriteria/0/condition: ...``.

    ArazzoError
    ├── DocumentError            (location, message)      the document or a source description is invalid
    │   ├── LoadError                                     unreadable, not YAML/JSON, unsupported version
    │   ├── DocumentInvalid      (problems)               every schema / semantic problem found at load
    │   └── OperationNotFound                             operationId / operationPath / workflowId unresolved
    ├── ExpressionError          (expression, position, message)   syntax error in a runtime expression
    │   └── ConditionError                                syntax error in a criterion
    ├── EvaluationError          (expression, message)    could not be evaluated at run time
    ├── InputError               (name, message)          missing, or invalid against the schema
    │   └── UndeclaredInput                               not among the workflow's inputs, and not given
    ├── UsageError               (message)                bad command-line or API usage (exit code 2)
    └── ExecutionError           (message)                the run could not proceed
        ├── TransportError       (step_id, message)       connection failure, timeout
        ├── BudgetExceeded                                max steps / depth / cycle guard
        ├── BrokerError          (protocol, message)      an AsyncAPI broker refused or dropped a connection,
        │                                                 a publish or a subscription; a missing client extra
        └── ReceiveTimeout       (channel, correlation_id, timeout)   no matching message arrived in time
"""

from __future__ import annotations

from collections.abc import Sequence


class ArazzoError(Exception):
    """Base of every error the runner raises."""


class DocumentError(ArazzoError):
    def __init__(self, location: str, message: str) -> None:
        super().__init__(f"{location or '/'}: {message}")
        self.location = location
        self.message = message


class LoadError(DocumentError):
    pass


class OperationNotFound(DocumentError):
    pass


class DocumentInvalid(DocumentError):
    """The document failed the JSON Schema or semantic checks; ``problems`` holds every one, in order."""

    def __init__(self, problems: Sequence[DocumentError], warnings: Sequence[str] = ()) -> None:
        count = len(problems)
        first = f"; first: {problems[0]}" if problems else ""
        super().__init__("", f"{count} problem{'s' if count != 1 else ''} in the document{first}")
        self.problems: tuple[DocumentError, ...] = tuple(problems)
        self.warnings: tuple[str, ...] = tuple(warnings)


class ExpressionError(ArazzoError):
    def __init__(self, expression: str, position: int, message: str, location: str = "") -> None:
        where = f"{location}: " if location else ""
        super().__init__(f"{where}{message} at position {position} in {expression!r}")
        self.expression = expression
        self.position = position
        self.message = message
        self.location = location


class ConditionError(ExpressionError):
    pass


class EvaluationError(ArazzoError):
    def __init__(self, expression: str, message: str) -> None:
        super().__init__(f"{expression}: {message}")
        self.expression = expression
        self.message = message


class InputError(ArazzoError):
    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"input {name!r}: {message}" if name else message)
        self.name = name
        self.message = message


class UndeclaredInput(InputError):
    """``$inputs.NAME`` where the workflow declares no input NAME and none was given (``$inputs.a.b`` of a 1.0
    document then reads member ``b`` of input ``a``)."""


class UsageError(ArazzoError):
    pass


class ExecutionError(ArazzoError):
    pass


class TransportError(ExecutionError):
    def __init__(self, step_id: str, message: str) -> None:
        super().__init__(f"step {step_id}: {message}")
        self.step_id = step_id
        self.message = message


class BudgetExceeded(ExecutionError):
    pass


class BrokerError(ExecutionError):
    """An AsyncAPI adapter could not connect, publish or subscribe, or its client is not installed."""

    def __init__(self, protocol: str, message: str) -> None:
        super().__init__(f"{protocol}: {message}")
        self.protocol = protocol
        self.message = message


class ReceiveTimeout(ExecutionError):
    """A receive step saw no message matching its correlation id on ``channel`` within ``timeout`` seconds."""

    def __init__(self, channel: str, correlation_id: str | None, timeout: float) -> None:
        wanted = f"with correlation id {correlation_id!r} " if correlation_id is not None else ""
        super().__init__(f"no message {wanted}arrived on channel {channel!r} within {timeout:g} s")
        self.channel = channel
        self.correlation_id = correlation_id
        self.timeout = timeout
