"""An outbox message whose deliveries never finish (the worker is killed by its hard time
limit, or lost) uses up its attempts and ends as failed with one incident, instead of being
claimed again forever."""

from __future__ import annotations

import datetime as dt

import pytest
from celery.exceptions import SoftTimeLimitExceeded

from cases.selectors import incident_explain
from common import clock
from common.operations import get_operation, operation
from engine import services as engine
from engine.models import Incident, IncidentStatus, OutboxMessage, OutboxStatus
from tests.engine_models import publish_model
from tests.factories import make_tenant

pytestmark = pytest.mark.django_db

SLOW_CALLS: list[str] = []

if get_operation("test.flaky") is None:  # the model's operation; test_conformance registers it when collected
    @operation("test.flaky", description="Answers (tests only)", params=())
    def flaky(params, ctx):
        return {}


@operation("test.quick", description="Answers at once (tests only)", params=())
def quick(params, ctx):
    return {"echo": params.get("value")}


@operation("test.slow", description="Takes longer than the task may live (tests only)", params=())
def slow(params, ctx):
    SLOW_CALLS.append(ctx.idempotency_key)
    raise SoftTimeLimitExceeded()


@pytest.fixture
def started(settings):
    settings.PROCEDO_OUTBOX_MAX_ATTEMPTS = 3
    settings.PROCEDO_OUTBOX_LEASE_SECONDS = 360
    clock.freeze(dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC))
    tenant = make_tenant()
    version = publish_model("service_outbox")
    return engine.instance_start(tenant=tenant, version=version, data={"start_value": "x"})


def _lose_the_worker() -> None:
    """A worker claims the message and dies mid-delivery: nothing records an outcome."""
    (pk,) = engine.outbox_due_ids()
    assert engine.outbox_claim(pk) is not None
    clock.advance(dt.timedelta(seconds=361))  # past the lease


def test_deliveries_that_never_finish_end_as_failed_with_one_incident(started):
    message = OutboxMessage.objects.get(instance=started.instance)
    for _attempt in range(3):
        _lose_the_worker()
    message.refresh_from_db()
    assert message.attempts == 3

    # the next sweep gives up instead of claiming a fourth time
    assert engine.outbox_deliver_due() == {"skipped": 1}
    message.refresh_from_db()
    assert message.status == OutboxStatus.FAILED and message.attempts == 3
    incident = Incident.objects.get(instance=started.instance)
    assert incident.status == IncidentStatus.OPEN and incident.outbox_id == message.pk
    assert "non ha completato nessuno dei 3 tentativi entro il tempo massimo" in incident.message
    assert incident_explain(incident, operation=message.operation).category == "timeout"

    # and nobody claims it again, however long we wait
    clock.advance(dt.timedelta(days=1))
    assert engine.outbox_due_ids() == []
    assert engine.outbox_claim(message.pk) is None
    assert engine.outbox_deliver_due() == {}
    message.refresh_from_db()
    assert message.attempts == 3
    assert Incident.objects.filter(instance=started.instance).count() == 1


def test_a_live_lease_is_not_taken_over(started):
    (pk,) = engine.outbox_due_ids()
    assert engine.outbox_claim(pk) is not None
    clock.advance(dt.timedelta(seconds=300))  # the worker may still be running
    assert engine.outbox_claim(pk) is None
    message = OutboxMessage.objects.get(pk=pk)
    assert message.status == OutboxStatus.RUNNING and message.attempts == 1
    assert not Incident.objects.exists()


def test_retry_of_the_incident_gives_the_message_a_new_budget(started):
    for _attempt in range(3):
        _lose_the_worker()
    engine.outbox_deliver_due()
    incident = Incident.objects.get(instance=started.instance)
    OutboxMessage.objects.filter(instance=started.instance).update(operation="test.quick")  # the platform is back
    engine.incident_retry(incident_id=incident.pk, tenant=incident.tenant, actor_username="admin")
    assert engine.outbox_deliver_due() == {"done": 1}
    message = OutboxMessage.objects.get(instance=started.instance)
    assert message.status == OutboxStatus.DONE and message.attempts == 1


def test_a_soft_time_limit_counts_as_an_attempt_and_ends_the_task(started, settings):
    message = OutboxMessage.objects.get(instance=started.instance)
    OutboxMessage.objects.filter(pk=message.pk).update(operation="test.slow")
    SLOW_CALLS.clear()
    with pytest.raises(SoftTimeLimitExceeded):
        engine.outbox_deliver(message.pk)
    message.refresh_from_db()
    assert message.status == OutboxStatus.PENDING and message.attempts == 1 and message.locked_until is None
    for _attempt in range(2):
        clock.advance(dt.timedelta(hours=1))
        with pytest.raises(SoftTimeLimitExceeded):
            engine.outbox_deliver(message.pk)
    message.refresh_from_db()
    assert message.status == OutboxStatus.FAILED and len(SLOW_CALLS) == 3
    incident = Incident.objects.get(instance=started.instance)
    assert incident_explain(incident, operation="test.slow").category == "timeout"


def test_celery_tasks_run_under_the_configured_time_limits():
    from django.conf import settings

    from config.celery import app
    from engine.tasks import deliver_outbox_task

    assert app.conf.task_soft_time_limit == settings.PROCEDO_TASK_SOFT_TIME_LIMIT
    assert app.conf.task_time_limit == settings.PROCEDO_TASK_TIME_LIMIT
    assert 0 < app.conf.task_soft_time_limit < app.conf.task_time_limit < settings.PROCEDO_OUTBOX_LEASE_SECONDS
    assert deliver_outbox_task.app is app
