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

Every operation declares the parameters it reads, `params=(OperationParam("fiscal_code", required=True),
"due_date")` (a plain name is optional; `params=()`: it reads none): the studio's palette offers them
and its validation refuses a model that leaves a required one unbound (studio.validation), and a test
holds every shipped model to it. `required` means the operation refuses to work without it; a pair of
alternatives (amount or amount_cents) is declared as two optional names.

`@operation("appio.send_message", description=..., params=(...), remember=True)` also remembers the
result of a completed call per (tenant, operation, idempotency key): a second
delivery of the same outbox message returns it instead of calling the platform
again. The store is the connectors' `OperationResult` table, handed to this module
once by `ConnectorsConfig.ready()` (`use_result_store`), since `common` imports no app.

`@result_effect("anpr.mutazione_residenza", name="registry")` registers what another app does
with an operation's result *in the case's transaction* when the engine feeds the result back
(`engine.outbox`): e.g. the local population register follows ANPR's change. An effect gets the
call's params, its result and the context, and returns a small JSON report that the engine adds to
the result under `effects[<name>]` (so the case shows whether the effect was applied, and why not).
An effect runs in a savepoint: its failure is reported there and logged, never lost, and never
undoes the platform's answer (the alignment check later lists what differs).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from .errors import ConfigurationError, ProcedoError


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
class OperationParam:
    """A parameter an operation reads (declared for the studio's palette and its validation)."""

    name: str
    required: bool = False


@dataclass(frozen=True)
class Operation:
    name: str
    description: str
    fn: OperationFn
    remember: bool = False  # a completed result is stored per idempotency key and returned on a retry
    # The parameters it reads (declared by every operation; empty: it reads none).
    params: tuple[OperationParam, ...] = ()

    def __call__(self, params: dict[str, Any], ctx: OperationContext) -> dict[str, Any]:
        return self.fn(params, ctx)


class ResultStore(Protocol):
    """Where remembered operation results live (connectors.base.idempotency.OperationResultStore)."""

    def get(self, *, tenant_id: int, operation: str, idempotency_key: str) -> dict[str, Any] | None: ...

    def put(self, *, tenant_id: int, operation: str, idempotency_key: str, result: dict[str, Any]) -> None: ...


_REGISTRY: dict[str, Operation] = {}
_result_store: ResultStore | None = None


def use_result_store(store: ResultStore) -> None:
    """Set where `remember=True` operations keep their results (called once, at app start)."""
    global _result_store  # noqa: PLW0603 - one store per process, set by the connectors app
    _result_store = store


def _remembering(name: str, fn: OperationFn) -> OperationFn:
    @functools.wraps(fn)
    def remembered(params: dict[str, Any], ctx: OperationContext) -> dict[str, Any]:
        store = _result_store
        if store is None:
            # Never run a remembered operation unremembered: a retry could repeat the platform's action.
            raise ConfigurationError(f"operation {name!r} remembers its results but no result store is set")
        previous = store.get(tenant_id=ctx.tenant_id, operation=name, idempotency_key=ctx.idempotency_key)
        if previous is not None:
            return previous
        result = fn(params, ctx)
        store.put(tenant_id=ctx.tenant_id, operation=name, idempotency_key=ctx.idempotency_key, result=result)
        return result

    return remembered


def operation(name: str, *, description: str, params: tuple[OperationParam | str, ...],
              remember: bool = False) -> Callable[[OperationFn], OperationFn]:
    """Register `fn` under its public `name`; with `remember=True` its completed results are remembered.
    `params` (mandatory) declares what it reads: `OperationParam("x", required=True)` or a plain name
    (optional); `()` for an operation that reads no parameter."""
    if "." not in name:
        raise ValueError(f"operation names are '<platform>.<what>', got {name!r}")
    if not isinstance(params, tuple | list):
        raise ValueError(f"operation {name!r}: params must be a tuple of parameters, got {params!r}")
    declared = tuple(p if isinstance(p, OperationParam) else OperationParam(p) for p in params)
    names = [p.name for p in declared]
    if any(not isinstance(n, str) or not n.isidentifier() for n in names) or len(set(names)) != len(names):
        raise ValueError(f"operation {name!r}: parameter names must be distinct identifiers, got {names!r}")

    def decorator(fn: OperationFn) -> OperationFn:
        existing = _REGISTRY.get(name)
        if existing is not None and existing.fn is not fn and existing.fn.__qualname__ != fn.__qualname__:
            raise ValueError(f"operation {name!r} is registered twice")
        registered = _remembering(name, fn) if remember else fn
        _REGISTRY[name] = Operation(name=name, description=description, fn=registered, remember=remember,
                                    params=declared)
        return registered

    return decorator


ResultEffectFn = Callable[[dict[str, Any], dict[str, Any], OperationContext], dict[str, Any]]
_EFFECTS: dict[str, dict[str, ResultEffectFn]] = {}


def result_effect(operation_name: str, *, name: str) -> Callable[[ResultEffectFn], ResultEffectFn]:
    """Register `fn(params, result, ctx) -> report` to run when `operation_name`'s result is fed back."""

    def decorator(fn: ResultEffectFn) -> ResultEffectFn:
        _EFFECTS.setdefault(operation_name, {})[name] = fn
        return fn

    return decorator


def result_effects(operation_name: str) -> dict[str, ResultEffectFn]:
    return dict(_EFFECTS.get(operation_name, {}))


def get_operation(name: str) -> Operation | None:
    return _REGISTRY.get(name)


def all_operations() -> list[Operation]:
    return sorted(_REGISTRY.values(), key=lambda op: op.name)
