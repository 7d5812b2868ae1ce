"""The one time source of Procedo.

Everything that asks "what time is it" (due dates, timers, audit timestamps) goes
through `now()`, so tests and demos can move time with `frozen()`/`advance()`
instead of sleeping. The offset is process-wide and starts at the PROCEDO_CLOCK_OFFSET_SECONDS
setting (demo only), so a demo can run "in the future".
"""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
from collections.abc import Iterator

from django.conf import settings
from django.utils import timezone

_lock = threading.Lock()
_frozen: dt.datetime | None = None
_offset: dt.timedelta | None = None  # read from settings on first use: this module loads before them


def _current_offset() -> dt.timedelta:
    global _offset
    if _offset is None:
        _offset = dt.timedelta(seconds=float(getattr(settings, "PROCEDO_CLOCK_OFFSET_SECONDS", 0) or 0))
    return _offset


def now() -> dt.datetime:
    if _frozen is not None:
        return _frozen
    return timezone.now() + _current_offset()


def today() -> dt.date:
    return timezone.localtime(now()).date()


def advance(delta: dt.timedelta) -> None:
    """Move the clock forward (frozen or running)."""
    global _frozen, _offset
    with _lock:
        if _frozen is not None:
            _frozen = _frozen + delta
        else:
            _offset = _current_offset() + delta


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
