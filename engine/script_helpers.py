"""Helpers available to BPMN expressions (see conventions): dates as ISO strings, Europe/Rome."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from codicefiscale import codicefiscale
from dateutil.easter import easter

from common import clock

ROME = ZoneInfo("Europe/Rome")
# Bounds for the helpers that loop over days: BPMN expressions call them with case data, and a
# huge count must be refused, not walked one day at a time while a request waits.
MAX_WORKING_DAYS = 10_000
MAX_SPAN_DAYS = 36_600


@lru_cache(maxsize=64)
def italian_holidays(year: int) -> frozenset[dt.date]:
    easter_sunday = easter(year)
    days = {
        dt.date(year, 1, 1), dt.date(year, 1, 6), easter_sunday, easter_sunday + dt.timedelta(days=1),
        dt.date(year, 4, 25), dt.date(year, 5, 1), dt.date(year, 6, 2), dt.date(year, 8, 15),
        dt.date(year, 11, 1), dt.date(year, 12, 8), dt.date(year, 12, 25), dt.date(year, 12, 26),
    }
    if year >= 2026:
        # 4 October (San Francesco d'Assisi) is a national holiday again from 2026 (L. 151/2025).
        days.add(dt.date(year, 10, 4))
    return frozenset(days)


def _as_date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.astimezone(ROME).date() if value.tzinfo else value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(parse_date(value))


def is_working_day_date(day: dt.date, patron_day: tuple[int, int] | None = None) -> bool:
    if day.weekday() >= 5 or day in italian_holidays(day.year):
        return False
    return not (patron_day and (day.month, day.day) == tuple(patron_day))


def add_working_days_date(day: dt.date, n: int, patron_day: tuple[int, int] | None = None) -> dt.date:
    """The n-th working day after `day`; n=0 gives `day` itself or the next working day."""
    current = day
    if n <= 0:
        while not is_working_day_date(current, patron_day):
            current += dt.timedelta(days=1)
        return current
    while n > 0:
        current += dt.timedelta(days=1)
        if is_working_day_date(current, patron_day):
            n -= 1
    return current


def parse_date(text: Any) -> str:
    if isinstance(text, dt.datetime):
        return _as_date(text).isoformat()
    if isinstance(text, dt.date):
        return text.isoformat()
    if isinstance(text, str):
        value = text.strip()
        try:
            if len(value) >= 10 and value[4] == "-":
                return dt.date.fromisoformat(value[:10]).isoformat()
            if len(value) == 10 and value[2] == "/" and value[5] == "/":
                return dt.date(int(value[6:]), int(value[3:5]), int(value[:2])).isoformat()
        except ValueError:
            pass
    raise ValueError(f"Data non valida: {text!r} (usa AAAA-MM-GG o GG/MM/AAAA)")


def _span_cost(a: Any, b: Any, *_: Any) -> int:
    try:
        return 10 + 2 * min(abs((_as_date(b) - _as_date(a)).days), MAX_SPAN_DAYS)
    except (ValueError, TypeError, OverflowError):
        return 1


def build_helpers(*, patron_day: tuple[int, int] | None) -> dict[str, Callable[..., Any]]:
    def today() -> str:
        return clock.today().isoformat()

    def now() -> str:
        return clock.now().astimezone(ROME).isoformat()

    def add_days(date: Any, n: int) -> str:
        return (_as_date(date) + dt.timedelta(days=int(n))).isoformat()

    def add_working_days(date: Any, n: int) -> str:
        count = int(n)
        if abs(count) > MAX_WORKING_DAYS:
            raise ValueError(f"add_working_days: at most {MAX_WORKING_DAYS} working days")
        return add_working_days_date(_as_date(date), count, patron_day).isoformat()

    def is_working_day(date: Any) -> bool:
        return is_working_day_date(_as_date(date), patron_day)

    def working_days_between(a: Any, b: Any) -> int:
        start, end = _as_date(a), _as_date(b)
        if abs((end - start).days) > MAX_SPAN_DAYS:
            raise ValueError(f"working_days_between: at most {MAX_SPAN_DAYS} days apart")
        sign = 1 if end >= start else -1
        lo, hi = min(start, end), max(start, end)
        count, current = 0, lo
        while current < hi:
            current += dt.timedelta(days=1)
            if is_working_day_date(current, patron_day):
                count += 1
        return sign * count

    def format_date(date: Any) -> str:
        """Italian display format: 20/11/2026."""
        return _as_date(date).strftime("%d/%m/%Y")

    def days_between(a: Any, b: Any) -> int:
        return (_as_date(b) - _as_date(a)).days

    def end_of_day(date: Any) -> str:
        day = _as_date(date)
        return dt.datetime(day.year, day.month, day.day, 23, 59, 59, tzinfo=ROME).isoformat()

    def is_valid_fiscal_code(cf: Any) -> bool:
        return isinstance(cf, str) and codicefiscale.is_valid(cf.strip().upper())

    def fiscal_code_birthdate(cf: Any) -> str | None:
        if not is_valid_fiscal_code(cf):
            return None
        try:
            return codicefiscale.decode(cf.strip().upper())["birthdate"].date().isoformat()
        except Exception:
            return None

    helpers: dict[str, Callable[..., Any]] = {
        "today": today, "now": now, "add_days": add_days, "add_working_days": add_working_days,
        "is_working_day": is_working_day, "working_days_between": working_days_between,
        "days_between": days_between, "end_of_day": end_of_day, "parse_date": parse_date,
        "format_date": format_date,
        "is_valid_fiscal_code": is_valid_fiscal_code, "fiscal_code_birthdate": fiscal_code_birthdate,
    }
    # What a call costs in the sandbox's step budget (engine.sandbox; one unit is about 1 µs), so
    # that a loop of helper calls stops on the budget: the working-day helpers walk one day at a
    # time, and the fiscal-code library takes about 2 ms per call.
    costs: dict[str, Callable[..., int]] = {
        "add_working_days": lambda date, n=0, *_: 10 + 2 * min(abs(int(n)), MAX_WORKING_DAYS),
        "working_days_between": _span_cost,
        "is_valid_fiscal_code": lambda *_: 2_500,
        "fiscal_code_birthdate": lambda *_: 2_500,
    }
    from . import business_hours  # SLA clocks in service hours (issue 12)

    helpers.update(business_hours.HELPERS)
    costs.update(business_hours.COSTS)
    for name, helper in helpers.items():
        helper.sandbox_cost = costs.get(name, _base_cost)  # type: ignore[attr-defined]
    return helpers


def _base_cost(*_: Any, **__: Any) -> int:
    return 10


# The names BPMN expressions may call besides the sandbox's own functions (engine.sandbox).
HELPER_NAMES = frozenset(build_helpers(patron_day=None))
