"""Business-hours arithmetic of the SLA clocks (engine.business_hours), and its sandbox registration."""

import pytest

from engine.business_hours import (
    add_business_hours,
    add_business_minutes,
    business_minutes_between,
    sla_target_minutes,
)
from engine.script_helpers import HELPER_NAMES

OFFICE = {"weekdays": [0, 1, 2, 3, 4], "start": "08:00", "end": "18:00", "holidays": ["2026-12-24"]}


def test_friday_17_level_3_is_due_monday_15():
    # 1 hour on Friday (17-18), 7 on Monday (8-15).
    assert add_business_hours("2026-03-06T17:00:00+01:00", 8, OFFICE) == "2026-03-09T15:00:00+01:00"


def test_start_outside_hours_counts_from_next_opening():
    assert add_business_minutes("2026-03-07T10:00:00+01:00", 120, OFFICE) == "2026-03-09T10:00:00+01:00"
    assert add_business_minutes("2026-03-09T06:30:00+01:00", 0, OFFICE) == "2026-03-09T08:00:00+01:00"
    assert add_business_minutes("2026-03-09T19:00:00+01:00", 60, OFFICE) == "2026-03-10T09:00:00+01:00"


def test_holidays_national_tenant_and_patron_are_closed():
    # 24 Dec (tenant), 25-26 Dec (national), then the weekend: Thursday 23 Dec 17:00 + 2h -> Mon 28 09:00.
    assert add_business_hours("2026-12-23T17:00:00+01:00", 2, OFFICE) == "2026-12-28T09:00:00+01:00"
    patron = {**OFFICE, "patron_day": [3, 10]}
    assert add_business_hours("2026-03-09T17:00:00+01:00", 2, patron) == "2026-03-11T09:00:00+01:00"


def test_utc_input_and_round_the_clock_service():
    always = {"weekdays": list(range(7)), "start": "00:00", "end": "24:00"}
    assert add_business_minutes("2026-03-07T22:00:00Z", 120, always) == "2026-03-08T01:00:00+01:00"
    assert business_minutes_between("2026-03-07T00:00:00+01:00", "2026-03-09T00:00:00+01:00", always) == 2880


def test_minutes_between_counts_only_service_time():
    assert business_minutes_between("2026-03-06T17:00:00+01:00", "2026-03-09T15:00:00+01:00", OFFICE) == 480
    assert business_minutes_between("2026-03-09T15:00:00+01:00", "2026-03-06T17:00:00+01:00", OFFICE) == 0
    # Across the change to summer time (29 March 2026) the window stays 08:00-18:00 local.
    assert business_minutes_between("2026-03-27T08:00:00+01:00", "2026-03-30T18:00:00+02:00", OFFICE) == 1200


def test_targets_in_service_minutes():
    assert sla_target_minutes({"hours": 2}, OFFICE) == 120
    assert sla_target_minutes({"working_days": 2}, OFFICE) == 1200
    assert sla_target_minutes({"minutes": 15}, OFFICE) == 15
    with pytest.raises(ValueError):
        sla_target_minutes({"weeks": 1}, OFFICE)


@pytest.mark.parametrize("calendar", [
    {"weekdays": []}, {"weekdays": [7]}, {"start": "18:00", "end": "08:00"}, {"start": "8"},
    {"holidays": ["not a date"]}, "closed", {"patron_day": [3]},
])
def test_invalid_calendars_are_refused(calendar):
    with pytest.raises(ValueError):
        add_business_minutes("2026-03-09T08:00:00+01:00", 10, calendar)


def test_huge_figures_are_refused_not_walked():
    with pytest.raises(ValueError):
        add_business_minutes("2026-03-09T08:00:00+01:00", 10**12, OFFICE)
    with pytest.raises(ValueError):
        business_minutes_between("2026-03-09T08:00:00+01:00", "9999-01-01T00:00:00+01:00", OFFICE)
    # A calendar whose only service day never comes (a holiday list cannot close every Monday, but
    # a window on Sunday with national holidays only is fine): bounded by MAX_DAYS either way.
    assert add_business_minutes("2026-03-09T08:00:00+01:00", 60, {"weekdays": [6]}) == "2026-03-15T09:00:00+01:00"


def test_registered_as_bpmn_helpers():
    assert {"add_business_minutes", "add_business_hours", "business_minutes_between",
            "sla_target_minutes"} <= HELPER_NAMES
