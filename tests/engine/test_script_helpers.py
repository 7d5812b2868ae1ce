"""Working days, Italian holidays, dates and fiscal codes for BPMN expressions."""

from __future__ import annotations

import datetime as dt

import pytest

from common import clock
from engine.script_helpers import (
    WorkCalendar,
    add_working_days_date,
    build_helpers,
    italian_holidays,
    parse_date,
)

H = build_helpers(patron_day=(7, 25))


def test_2026_holidays_include_easter_monday_and_san_francesco():
    days = italian_holidays(2026)
    assert dt.date(2026, 4, 5) in days and dt.date(2026, 4, 6) in days  # Easter and Easter Monday 2026
    assert dt.date(2026, 10, 4) in days  # L. 151/2025, from 2026
    assert dt.date(2025, 10, 4) not in italian_holidays(2025)
    assert len(days) == 13


@pytest.mark.parametrize(
    ("start", "n", "expected"),
    [
        ("2026-03-02", 2, "2026-03-04"),  # Monday + 2
        ("2026-03-06", 2, "2026-03-10"),  # Friday: skips the weekend
        ("2026-04-03", 1, "2026-04-07"),  # Good Friday + 1: skips weekend and Easter Monday
        ("2026-07-24", 1, "2026-07-27"),  # Friday, then Sat/Sun; patron day 25 July is a Saturday
        ("2026-07-24", 0, "2026-07-24"),
        ("2026-12-24", 1, "2026-12-28"),  # 25 and 26 December, Sunday 27
    ],
)
def test_add_working_days(start, n, expected):
    assert H["add_working_days"](start, n) == expected


def test_the_patron_day_is_not_a_working_day():
    helpers = build_helpers(patron_day=(3, 3))
    assert helpers["add_working_days"]("2026-03-02", 1) == "2026-03-04"
    assert build_helpers(patron_day=None)["add_working_days"]("2026-03-02", 1) == "2026-03-03"
    assert add_working_days_date(dt.date(2026, 3, 2), 1, (3, 3)) == dt.date(2026, 3, 4)


def test_counting_days():
    assert H["working_days_between"]("2026-03-02", "2026-03-09") == 5
    assert H["days_between"]("2026-03-01", "2026-04-15") == 45
    assert H["is_working_day"]("2026-06-02") is False


def test_end_of_day_has_the_right_offset():
    assert H["end_of_day"]("2026-01-15") == "2026-01-15T23:59:59+01:00"
    assert H["end_of_day"]("2026-07-15") == "2026-07-15T23:59:59+02:00"


def test_parse_date_accepts_iso_and_italian_format_and_refuses_others():
    assert parse_date("2026-03-01") == "2026-03-01"
    assert parse_date("01/03/2026") == "2026-03-01"
    for bad in ("31/02/2026", "1 marzo", "", None):
        with pytest.raises(ValueError, match="Data non valida"):
            parse_date(bad)


def test_today_follows_the_clock():
    clock.freeze(dt.datetime(2026, 5, 31, 23, 30, tzinfo=dt.UTC))  # already 1 June in Rome
    assert H["today"]() == "2026-06-01"


def test_fiscal_codes():
    assert H["is_valid_fiscal_code"]("PRVGNN90R10H501Q")
    assert H["is_valid_fiscal_code"]("rssmra80a01h501u")
    assert not H["is_valid_fiscal_code"]("RSSMRA80A01H501X")
    assert not H["is_valid_fiscal_code"](12)
    assert H["fiscal_code_birthdate"]("RSSMRA80A01H501U") == "1980-01-01"
    assert H["fiscal_code_birthdate"]("nonsense") is None


# ---------------------------------------------------------------- the tenant's day-counting rule

SAT = WorkCalendar(patron_day=(3, 3), weekdays=frozenset(range(6)))  # an office open on Saturday


def test_working_weekdays_are_a_tenant_setting():
    assert build_helpers(patron_day=SAT)["add_working_days"]("2026-03-06", 1) == "2026-03-07"  # Friday -> Saturday
    assert build_helpers(patron_day=None)["add_working_days"]("2026-03-06", 1) == "2026-03-09"
    # the patron day of the calendar still counts as closed
    assert build_helpers(patron_day=SAT)["add_working_days"]("2026-03-02", 1) == "2026-03-04"
    assert build_helpers(patron_day=SAT)["working_days_between"]("2026-03-02", "2026-03-09") == 5


def test_working_days_backwards():
    assert add_working_days_date(dt.date(2026, 4, 7), -1) == dt.date(2026, 4, 3)  # over Easter Monday
    assert add_working_days_date(dt.date(2026, 3, 9), -5) == dt.date(2026, 3, 2)


@pytest.mark.parametrize(
    ("start", "n", "expected"),
    [
        ("2026-03-02", 45, "2026-04-16"),  # Thursday: no shift
        ("2026-12-24", 45, "2027-02-08"),  # Sunday 7 February -> Monday
        ("2026-12-31", 45, "2027-02-15"),  # Sunday 14 February -> Monday
        ("2026-03-27", 10, "2026-04-07"),  # Monday 6 April (Easter Monday) -> Tuesday
        ("2026-12-15", 10, "2026-12-28"),  # Friday 25 December: 25, 26, 27 closed -> Monday 28
        ("2026-09-24", 10, "2026-10-05"),  # Sunday 4 October (national holiday from 2026) -> Monday
    ],
)
def test_a_calendar_term_ending_on_a_holiday_moves_to_the_next_working_day(start, n, expected):
    assert H["term_end"](start, n) == expected


def test_term_end_on_saturday_depends_on_the_office():
    assert build_helpers(patron_day=None)["term_end"]("2026-03-04", 10) == "2026-03-16"  # Saturday 14 -> Monday
    assert build_helpers(patron_day=SAT)["term_end"]("2026-03-04", 10) == "2026-03-14"


def test_a_calendar_without_working_days_is_refused():
    with pytest.raises(ValueError):
        WorkCalendar(weekdays=frozenset()).term_end(dt.date(2026, 3, 2), 1)


def test_tenant_calendar_from_its_settings():
    from accounts.models import Tenant

    tenant = Tenant(patron_month=3, patron_day=3, working_weekdays="012345")
    assert tenant.work_calendar == SAT
    assert Tenant(working_weekdays="").work_calendar == WorkCalendar()


@pytest.mark.parametrize("value", ["7", "0013", "01a", "01234567"])
def test_a_wrong_working_weekdays_setting_is_refused(value):
    from django.core.exceptions import ValidationError

    from accounts.models import Tenant

    with pytest.raises(ValidationError) as refused:
        Tenant(name="X", slug="x", istat_code="000001", belfiore_code="X001", working_weekdays=value).full_clean(
            validate_unique=False)
    assert "working_weekdays" in refused.value.message_dict
def test_local_datetime_and_add_hours_count_elapsed_hours_across_summer_time():
    # Death at 03:00 on Saturday 28 March 2026; summer time starts on Sunday 29 March at 02:00.
    death = H["local_datetime"]("2026-03-28", "03:00")
    assert death == "2026-03-28T03:00:00+01:00"
    # 24 elapsed hours later the wall clock says 04:00, not 03:00 (that would be 23 hours).
    assert H["add_hours"](death, 24) == "2026-03-29T04:00:00+02:00"
    assert H["add_hours"]("2026-03-02T10:00:00", 24) == "2026-03-03T10:00:00+01:00"  # no offset: Rome time
    assert H["format_datetime"]("2026-03-29T01:30:00Z") == "29/03/2026 ore 03:30"
    with pytest.raises(ValueError):
        H["local_datetime"]("2026-03-28", "25:00")
    with pytest.raises(ValueError):
        H["add_hours"]("ieri", 24)


def test_is_past_follows_the_clock():
    clock.freeze(dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC))
    try:
        assert H["is_past"]("2026-03-02T10:00:00+01:00") is True  # 09:00 UTC is 10:00 in Rome
        assert H["is_past"]("2026-03-02T10:01:00+01:00") is False
    finally:
        clock.reset()
