"""Listeners told, inside the same transaction, that an instance changed.

`cases` registers one at start-up to project READY user tasks into WorkItem rows,
update the case status and write audit events; the engine never imports `cases`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .services import StepResult

Listener = Callable[["StepResult"], None]
_listeners: list[Listener] = []


def register(listener: Listener) -> None:
    if listener not in _listeners:
        _listeners.append(listener)


def notify(result: StepResult) -> None:
    for listener in _listeners:
        listener(result)
