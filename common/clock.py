"""The one time source of Procedo.

Everything that asks "what time is it" (due dates, timers, audit timestamps) goes
through `now()`, so tests and demos can move time with `frozen()`/`advance()`
instead of sleeping. The offset is process-wide and also read from the
PROCEDO_CLOCK_OFFSET_SECONDS environment variable, so a demo can run "in the future".
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import threading
from collections.abc import Iterator

from django.utils import timezone

_lock = threading.Lock()
_frozen: dt.datetime | None = None
_offset = dt.timedelta(seconds=float(os.environ.get("PROCEDO_CLOCK_OFFSET_SECONDS", "0") or 0))


def now() -> dt.datetime:
    if _frozen is not None:
        return _frozen
    return timezone.now() + _offset


def today() -> dt.date:
    return timezone.localtime(now()).date()


def advance(delta: dt.timedelta) -> None:
    """Move the clock forward (frozen or running)."""
    global _frozen, _offset
    with _lock:
        if _frozen is not None:
            _frozen = _frozen + delta
        else:
            _offset = _offset + delta


def freeze(at: dt.datetime | None = None) -> None:
    global _frozen
    with _lock:
        _frozen = at or now()


def reset() -> None:
    global _frozen, _offset
    with _lock:
        _frozen = None
        _offset = dt.timedelta(0)


@contextlib.contextmanager
def frozen(at: dt.datetime | None = None) -> Iterator[None]:
    freeze(at)
    try:
        yield
    finally:
        reset()
