"""Registry of operations that BPMN service tasks may call.

A service task names an operation (`serviceTaskOperator id="anpr.mutazione_residenza"`);
the engine looks it up here, never importing a platform package directly. Each
Django app registers its operations in its AppConfig.ready() by importing its
`operations` module, whose functions are decorated with `@operation`.

An operation takes plain data and returns plain JSON-serialisable data. It must be
idempotent for a given `ctx.idempotency_key`: the outbox may deliver it twice.
It raises `RetryableError` for a temporary fault (network, 5xx, timeout) and
`PermanentError` for a fault that no retry will fix (validation refused by the
platform); anything else is treated as retryable.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .errors import ProcedoError


@dataclass(frozen=True)
class OperationContext:
    tenant_id: int
    tenant_istat: str
    idempotency_key: str
    case_id: int | None = None
    case_number: str | None = None
    attempt: int = 1
    extra: dict[str, Any] = field(default_factory=dict)


class ConnectorError(ProcedoError):
    """A connector call failed. `platform_code` keeps the platform's own error code."""

    code = "connector_error"
    retryable = True

    def __init__(self, message: str, *, platform_code: str | None = None, details: Any = None) -> None:
        super().__init__(message, details=details)
        self.platform_code = platform_code


class RetryableError(ConnectorError):
    retryable = True


class PermanentError(ConnectorError):
    retryable = False


OperationFn = Callable[[dict[str, Any], OperationContext], dict[str, Any]]


@dataclass(frozen=True)
class Operation:
    name: str
    description: str
    fn: OperationFn

    def __call__(self, params: dict[str, Any], ctx: OperationContext) -> dict[str, Any]:
        return self.fn(params, ctx)


_REGISTRY: dict[str, Operation] = {}


def operation(name: str, *, description: str) -> Callable[[OperationFn], OperationFn]:
    if "." not in name:
        raise ValueError(f"operation names are '<platform>.<what>', got {name!r}")

    def decorator(fn: OperationFn) -> OperationFn:
        existing = _REGISTRY.get(name)
        if existing is not None and existing.fn is not fn and existing.fn.__qualname__ != fn.__qualname__:
            raise ValueError(f"operation {name!r} is registered twice")
        _REGISTRY[name] = Operation(name=name, description=description, fn=fn)
        return fn

    return decorator


def get_operation(name: str) -> Operation | None:
    return _REGISTRY.get(name)


def all_operations() -> list[Operation]:
    return sorted(_REGISTRY.values(), key=lambda op: op.name)
