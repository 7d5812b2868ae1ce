"""The ANPR sender: a death act's notification goes to ANPR (2001, over HTTP to the simulator) once,
is retried while ANPR is down, and ends failed with ANPR's reason when ANPR refuses it."""

from __future__ import annotations

import datetime as dt

import pytest

from audit.models import AuditEvent
from common import clock
from registry.anpr_sender import notification_retry, send_pending
from registry.civil_status.services import act_register
from registry.models import AnprNotification, Person
from tests.connectors.anpr.test_anpr import platforms  # noqa: F401 - the PDND and ANPR simulators
from tests.factories import make_tenant

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def _death(tenant, fiscal_code: str, died=dt.date(2026, 11, 20)) -> Person:
    person = Person.objects.create(tenant=tenant, fiscal_code=fiscal_code, family_name="PROVA", given_name="GIOVANNI",
                                   search_name="prova giovanni", sex="M", birth_date=dt.date(1990, 10, 10))
    act_register(tenant=tenant, actor=None, kind="death", act_date=died + dt.timedelta(days=1), office="Capannori",
                 officer="Ufficiale dello stato civile", data={"death_date": died.isoformat(), "death_place": "Capannori"},
                 parties=[(person.pk, "deceased")])
    return person


def test_a_death_is_sent_to_anpr_once(platforms):  # noqa: F811
    _, anpr, *_ = platforms
    tenant = make_tenant(istat="046007")
    person = _death(tenant, "PRVGNN90R10H501Q")
    assert send_pending() == {"sent": 1}
    notice = AnprNotification.objects.get(person=person)
    assert notice.status == "sent" and notice.anpr_operation_ref and notice.attempts == 1
    assert [(c["operation"], c["fiscal_code"], c["death_date"], c["act_number"]) for c in anpr.changes] == [
        ("2001", "PRVGNN90R10H501Q", "2026-11-20", "1")]
    assert send_pending() == {}
    assert AuditEvent.objects.filter(object_type="anpr_notification", object_id=str(notice.pk)).exists()


def test_anpr_down_delays_the_notification_and_it_is_sent_once(platforms, settings):  # noqa: F811
    _, anpr, _, anpr_server = platforms
    settings.PROCEDO_OUTBOX_BACKOFF_SECONDS = 10
    clock.freeze(dt.datetime(2026, 11, 21, 9, 0, tzinfo=dt.UTC))
    tenant = make_tenant(istat="046007")
    person = _death(tenant, "PRVGNN90R10H501Q")
    anpr_server.stop()
    assert send_pending() == {"retry": 1}
    assert send_pending() == {}  # backing off
    notice = AnprNotification.objects.get(person=person)
    assert notice.status == "pending" and notice.last_error and notice.next_attempt_at > clock.now()
    anpr_server.start()
    clock.advance(dt.timedelta(minutes=1))
    assert send_pending() == {"sent": 1}
    assert [c["operation"] for c in anpr.changes] == ["2001"]


def test_a_refusal_fails_the_notification_with_anprs_reason_and_it_can_be_requeued(platforms):  # noqa: F811
    _, anpr, *_ = platforms
    tenant = make_tenant(istat="046007")
    person = _death(tenant, "VRDLGU70A01E715X")  # not in ANPR's register
    assert send_pending() == {"failed": 1}
    notice = AnprNotification.objects.get(person=person)
    assert notice.status == "failed" and "EN130" in notice.last_error
    assert anpr.changes == []
    notification_retry(notification=notice, actor=None)
    notice.refresh_from_db()
    assert (notice.status, notice.attempts) == ("pending", 0)
