"""Helpers available to BPMN expressions (see conventions): dates as ISO strings, Europe/Rome."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from dateutil.easter import easter

from common import clock, fiscal_code

ROME = ZoneInfo("Europe/Rome")
# Bounds for the helpers that loop over days: BPMN expressions call them with case data, and a
# huge count must be refused, not walked one day at a time while a request waits.
MAX_WORKING_DAYS = 10_000
MAX_SPAN_DAYS = 36_600
DEFAULT_WEEKDAYS = frozenset(range(5))  # Monday..Friday


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


@dataclass(frozen=True)
class WorkCalendar:
    """The one day-counting rule of a tenant (see processes/residence_change/README.md "Days").

    Working days are the tenant's working weekdays (Monday-Friday unless the office also works on
    Saturday) minus the national holidays and the patron day. A calendar-day term whose last day
    is not a working day ends on the next working day (art. 2963 c.c., art. 155 c.p.c.).
    """

    patron_day: tuple[int, int] | None = None
    weekdays: frozenset[int] = DEFAULT_WEEKDAYS

    def is_working_day(self, day: dt.date) -> bool:
        if day.weekday() not in self.weekdays or day in italian_holidays(day.year):
            return False
        return not (self.patron_day and (day.month, day.day) == tuple(self.patron_day))

    def add_working_days(self, day: dt.date, n: int) -> dt.date:
        """The n-th working day after `day` (before it when n < 0); n=0 gives `day` itself or the
        next working day."""
        if not self.weekdays:
            raise ValueError("a calendar without working weekdays")
        current = day
        if n == 0:
            while not self.is_working_day(current):
                current += dt.timedelta(days=1)
            return current
        step = dt.timedelta(days=1 if n > 0 else -1)
        remaining = abs(n)
        while remaining > 0:
            current += step
            if self.is_working_day(current):
                remaining -= 1
        return current

    def working_days_between(self, start: dt.date, end: dt.date) -> int:
        sign = 1 if end >= start else -1
        lo, hi = min(start, end), max(start, end)
        count, current = 0, lo
        while current < hi:
            current += dt.timedelta(days=1)
            if self.is_working_day(current):
                count += 1
        return sign * count

    def term_end(self, day: dt.date, n: int) -> dt.date:
        """Last day of a term of n calendar days from `day` (the day itself not counted, art. 2963
        c.c.), moved to the next working day when it falls on a holiday or a closed weekday."""
        return self.add_working_days(day + dt.timedelta(days=n), 0)


def as_calendar(calendar: WorkCalendar | tuple[int, int] | None) -> WorkCalendar:
    """A WorkCalendar from a calendar, a bare patron day (month, day) or None (national rule only)."""
    if isinstance(calendar, WorkCalendar):
        return calendar
    return WorkCalendar(patron_day=tuple(calendar) if calendar else None)  # type: ignore[arg-type]


def is_working_day_date(day: dt.date, patron_day: WorkCalendar | tuple[int, int] | None = None) -> bool:
    return as_calendar(patron_day).is_working_day(day)


def add_working_days_date(day: dt.date, n: int, patron_day: WorkCalendar | tuple[int, int] | None = None) -> dt.date:
    """The n-th working day after `day` (before it when n < 0); n=0 gives `day` or the next working day."""
    return as_calendar(patron_day).add_working_days(day, n)


def term_end_date(day: dt.date, n: int, calendar: WorkCalendar | tuple[int, int] | None = None) -> dt.date:
    return as_calendar(calendar).term_end(day, n)


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


def _as_moment(value: Any) -> dt.datetime:
    """An instant: an aware datetime, or ISO text (without an offset: Rome local time)."""
    if isinstance(value, dt.datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = dt.datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(f"Data e ora non valide: {value!r} (usa AAAA-MM-GGTHH:MM)") from None
    else:
        raise ValueError(f"Data e ora non valide: {value!r} (usa AAAA-MM-GGTHH:MM)")
    return moment if moment.tzinfo else moment.replace(tzinfo=ROME)


def _span_cost(a: Any, b: Any, *_: Any) -> int:
    try:
        return 10 + 2 * min(abs((_as_date(b) - _as_date(a)).days), MAX_SPAN_DAYS)
    except (ValueError, TypeError, OverflowError):
        return 1


def build_helpers(*, patron_day: WorkCalendar | tuple[int, int] | None) -> dict[str, Callable[..., Any]]:
    """The helpers for one tenant: `patron_day` is its WorkCalendar (or a bare patron day)."""
    calendar = as_calendar(patron_day)

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
        return calendar.add_working_days(_as_date(date), count).isoformat()

    def term_end(date: Any, n: int) -> str:
        """Last day of a term of n calendar days from `date`, on the next working day if it falls
        on a holiday (the one rule for every calendar-day term: README of residence_change)."""
        count = int(n)
        if abs(count) > MAX_SPAN_DAYS:
            raise ValueError(f"term_end: at most {MAX_SPAN_DAYS} days")
        return calendar.term_end(_as_date(date), count).isoformat()

    def is_working_day(date: Any) -> bool:
        return calendar.is_working_day(_as_date(date))

    def working_days_between(a: Any, b: Any) -> int:
        start, end = _as_date(a), _as_date(b)
        if abs((end - start).days) > MAX_SPAN_DAYS:
            raise ValueError(f"working_days_between: at most {MAX_SPAN_DAYS} days apart")
        return calendar.working_days_between(start, end)

    def format_date(date: Any) -> str:
        """Italian display format: 20/11/2026."""
        return _as_date(date).strftime("%d/%m/%Y")

    def days_between(a: Any, b: Any) -> int:
        return (_as_date(b) - _as_date(a)).days

    def end_of_day(date: Any) -> str:
        day = _as_date(date)
        return dt.datetime(day.year, day.month, day.day, 23, 59, 59, tzinfo=ROME).isoformat()

    def local_datetime(date: Any, time: Any) -> str:
        """The instant of a date and a wall-clock time (HH:MM) in Rome: '2026-03-01', '14:30'."""
        try:
            hour, minute = (int(part) for part in str(time).strip().split(":")[:2])
            moment = dt.datetime.combine(_as_date(date), dt.time(hour, minute), tzinfo=ROME)
        except (TypeError, ValueError):
            raise ValueError(f"Ora non valida: {time!r} (usa HH:MM)") from None
        return moment.isoformat()

    def add_hours(moment: Any, n: int) -> str:
        """`n` elapsed hours after `moment` (across a change of summer time too), in Rome time."""
        hours = int(n)
        if abs(hours) > MAX_SPAN_DAYS * 24:
            raise ValueError(f"add_hours: at most {MAX_SPAN_DAYS * 24} hours")
        utc = _as_moment(moment).astimezone(dt.UTC) + dt.timedelta(hours=hours)
        return utc.astimezone(ROME).isoformat()

    def format_datetime(moment: Any) -> str:
        """Italian display format, Rome time: 20/11/2026 ore 14:30."""
        return _as_moment(moment).astimezone(ROME).strftime("%d/%m/%Y ore %H:%M")

    def is_past(moment: Any) -> bool:
        """True once `moment` has come (the clock is at or after it)."""
        return _as_moment(moment) <= clock.now()

    def is_valid_fiscal_code(cf: Any) -> bool:
        return isinstance(cf, str) and fiscal_code.is_valid(cf.strip().upper())

    def fiscal_code_birthdate(cf: Any) -> str | None:
        born = fiscal_code.birth_date(cf.strip()) if isinstance(cf, str) else None
        return born.isoformat() if born else None

    helpers: dict[str, Callable[..., Any]] = {
        "today": today, "now": now, "add_days": add_days, "add_working_days": add_working_days,
        "term_end": term_end,
        "is_working_day": is_working_day, "working_days_between": working_days_between,
        "days_between": days_between, "end_of_day": end_of_day, "parse_date": parse_date,
        "format_date": format_date, "local_datetime": local_datetime, "add_hours": add_hours,
        "format_datetime": format_datetime, "is_past": is_past,
        "is_valid_fiscal_code": is_valid_fiscal_code, "fiscal_code_birthdate": fiscal_code_birthdate,
    }
    # What a call costs in the sandbox's step budget (engine.sandbox; one unit is about 1 µs), so
    # that a loop of helper calls stops on the budget: the working-day helpers walk one day at a
    # time, and the fiscal-code library takes about 2 ms per call.
    costs: dict[str, Callable[..., int]] = {
        "add_working_days": lambda date, n=0, *_: 10 + 2 * min(abs(int(n)), MAX_WORKING_DAYS),
        "working_days_between": _span_cost,
        "term_end": lambda date, n=0, *_: 30,
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
