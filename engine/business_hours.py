"""Business-hours arithmetic for SLA clocks in BPMN (timers whose due time counts only service hours).

A *calendar* is plain data, so that a procedure can carry the terms it was opened with (a tenant
changes its service hours; a running ticket keeps the ones it started under):

    {"weekdays": [0, 1, 2, 3, 4],        # Monday = 0; default Monday to Friday
     "start": "08:00", "end": "18:00",   # the service window of each working day (Europe/Rome)
     "holidays": ["2026-12-24"],         # the tenant's own closing days
     "national_holidays": true,          # Italian public holidays are closed (default true)
     "patron_day": [12, 7]}              # the municipality's patron saint (month, day), optional

`end` "24:00" (with `start` "00:00" and all seven weekdays) gives a round-the-clock service.
Times are ISO 8601 strings with an offset; naive ones are read as Europe/Rome.

Every function is bounded: a BPMN expression calls them with case data, and a huge figure must
be refused, not walked one day at a time while a request waits.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

# script_helpers imports this module (to register the helpers): nothing of it is imported at load.
ROME = ZoneInfo("Europe/Rome")

# At most this many minutes may be added (about 2 years of round-the-clock service).
MAX_MINUTES = 60 * 24 * 800
# At most this many calendar days are walked by one call.
MAX_DAYS = 2_000
DEFAULT_CALENDAR: dict[str, Any] = {"weekdays": [0, 1, 2, 3, 4], "start": "08:00", "end": "18:00",
                                    "holidays": [], "national_holidays": True}


class Calendar:
    """A validated calendar (see the module docstring); invalid data raises ValueError."""

    def __init__(self, data: Any) -> None:
        data = data if data is not None else DEFAULT_CALENDAR
        if not isinstance(data, dict):
            raise ValueError("calendar: a mapping is required")
        weekdays = data.get("weekdays", DEFAULT_CALENDAR["weekdays"])
        if not isinstance(weekdays, list) or not weekdays or not all(
                isinstance(d, int) and not isinstance(d, bool) and 0 <= d <= 6 for d in weekdays):
            raise ValueError("calendar: 'weekdays' is a non-empty list of numbers 0 (Monday) to 6 (Sunday)")
        self.weekdays = frozenset(weekdays)
        self.start = _minute_of_day(data.get("start", DEFAULT_CALENDAR["start"]), "start")
        self.end = _minute_of_day(data.get("end", DEFAULT_CALENDAR["end"]), "end")
        if self.end <= self.start:
            raise ValueError("calendar: 'end' must come after 'start'")
        holidays = data.get("holidays") or []
        if not isinstance(holidays, list) or len(holidays) > 1_000:
            raise ValueError("calendar: 'holidays' is a list of ISO dates")
        try:
            self.holidays = frozenset(dt.date.fromisoformat(str(h)[:10]) for h in holidays)
        except ValueError as exc:
            raise ValueError("calendar: 'holidays' is a list of ISO dates") from exc
        self.national = bool(data.get("national_holidays", True))
        patron = data.get("patron_day")
        self.patron: tuple[int, int] | None = None
        if patron:
            if not (isinstance(patron, list | tuple) and len(patron) == 2 and all(isinstance(p, int) for p in patron)):
                raise ValueError("calendar: 'patron_day' is [month, day]")
            self.patron = (patron[0], patron[1])

    @property
    def minutes_per_day(self) -> int:
        return self.end - self.start

    def is_service_day(self, day: dt.date) -> bool:
        if day.weekday() not in self.weekdays or day in self.holidays:
            return False
        from .script_helpers import italian_holidays

        if self.national and day in italian_holidays(day.year):
            return False
        return not (self.patron and (day.month, day.day) == self.patron)

    def window(self, day: dt.date) -> tuple[dt.datetime, dt.datetime]:
        midnight = dt.datetime(day.year, day.month, day.day, tzinfo=ROME)
        # Wall-clock minutes (a DST change day keeps its 08:00-18:00 window).
        return (_wall(midnight, self.start), _wall(midnight, self.end))


def _wall(midnight: dt.datetime, minute: int) -> dt.datetime:
    if minute >= 24 * 60:
        nxt = midnight.date() + dt.timedelta(days=1)
        return dt.datetime(nxt.year, nxt.month, nxt.day, tzinfo=ROME)
    return midnight.replace(hour=minute // 60, minute=minute % 60)


def _minute_of_day(value: Any, name: str) -> int:
    text = str(value)
    try:
        hours, minutes = text.split(":")
        result = int(hours) * 60 + int(minutes)
    except ValueError as exc:
        raise ValueError(f"calendar: '{name}' is a time HH:MM") from exc
    if not 0 <= int(minutes) < 60 or not 0 <= result <= 24 * 60:
        raise ValueError(f"calendar: '{name}' is a time HH:MM between 00:00 and 24:00")
    return result


def parse_instant(value: Any) -> dt.datetime:
    if isinstance(value, dt.datetime):
        when = value
    else:
        when = dt.datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
    if when.tzinfo is None:
        when = when.replace(tzinfo=ROME)
    return when.astimezone(ROME)


def add_business_minutes(start: Any, minutes: Any, calendar: Any = None) -> str:
    """The instant `minutes` of service time after `start` (ISO string, Europe/Rome).

    A start outside service hours counts from the next opening; 0 minutes gives that opening
    (or `start` itself when the service is open)."""
    cal = Calendar(calendar)
    remaining = int(minutes)
    if remaining < 0 or remaining > MAX_MINUTES:
        raise ValueError(f"add_business_minutes: between 0 and {MAX_MINUTES} minutes")
    current = parse_instant(start)
    day = current.date()
    for _ in range(MAX_DAYS):
        if cal.is_service_day(day):
            opens, closes = cal.window(day)
            begin = max(current, opens)
            if begin < closes:
                available = int((closes - begin).total_seconds() // 60)
                if remaining <= available:
                    return (begin + dt.timedelta(minutes=remaining)).isoformat()
                remaining -= available
        day += dt.timedelta(days=1)
        current = dt.datetime(day.year, day.month, day.day, tzinfo=ROME)
    raise ValueError("add_business_minutes: the calendar has no service time in range")


def add_business_hours(start: Any, hours: Any, calendar: Any = None) -> str:
    return add_business_minutes(start, round(float(hours) * 60), calendar)


def business_minutes_between(a: Any, b: Any, calendar: Any = None) -> int:
    """Service minutes from `a` to `b` (0 when `b` is not after `a`)."""
    cal = Calendar(calendar)
    start, end = parse_instant(a), parse_instant(b)
    if end <= start:
        return 0
    if (end.date() - start.date()).days > MAX_DAYS:
        raise ValueError(f"business_minutes_between: at most {MAX_DAYS} days apart")
    total = 0
    day = start.date()
    while day <= end.date():
        if cal.is_service_day(day):
            opens, closes = cal.window(day)
            lo, hi = max(start, opens), min(end, closes)
            if hi > lo:
                total += (hi - lo).total_seconds()
        day += dt.timedelta(days=1)
    return int(total // 60)


def sla_target_minutes(target: Any, calendar: Any = None) -> int:
    """A level's time as service minutes: {"minutes": 120}, {"hours": 8} or {"working_days": 2}
    (a working day is one full service window of the calendar)."""
    cal = Calendar(calendar)
    if not isinstance(target, dict) or len(target) != 1:
        raise ValueError("sla_target_minutes: one of minutes, hours, working_days")
    (unit, amount), = target.items()
    value = float(amount)
    if value < 0:
        raise ValueError("sla_target_minutes: a time is not negative")
    factor = {"minutes": 1, "hours": 60, "working_days": cal.minutes_per_day}.get(unit)
    if factor is None:
        raise ValueError("sla_target_minutes: one of minutes, hours, working_days")
    result = round(value * factor)
    if result > MAX_MINUTES:
        raise ValueError(f"sla_target_minutes: at most {MAX_MINUTES} minutes")
    return result


# (name, function, cost in the sandbox's step budget): registered by script_helpers.build_helpers.
# The calls walk at most MAX_DAYS days, a few µs each.
def _walk_cost(*_: Any, **__: Any) -> int:
    return 2_000


HELPERS = {
    "add_business_minutes": add_business_minutes,
    "add_business_hours": add_business_hours,
    "business_minutes_between": business_minutes_between,
    "sla_target_minutes": sla_target_minutes,
}
COSTS = {name: _walk_cost for name in HELPERS}
