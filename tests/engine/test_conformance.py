"""Engine conformance on small models (tests/engine/models/): each test drives the
engine's services, so every step is saved to the database and loaded again."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from common import clock
from common.errors import PermissionRefused
from common.operations import RetryableError, operation
from engine import selectors
from engine import services as engine
from engine.models import Incident, InstanceStatus, OutboxMessage, OutboxStatus, WorkflowInstance
from tests.engine_models import publish_model
from tests.factories import make_tenant

pytestmark = pytest.mark.django_db

# --- a connector that fails twice per idempotency key, then works -----------------
FLAKY_CALLS: dict[str, int] = {}
FLAKY_EFFECTS: dict[str, int] = {}


@operation("test.flaky", description="Fails twice, then answers (tests only)", params=())
def flaky(params, ctx):
    FLAKY_CALLS[ctx.idempotency_key] = FLAKY_CALLS.get(ctx.idempotency_key, 0) + 1
    if FLAKY_CALLS[ctx.idempotency_key] <= 2:
        raise RetryableError("platform down")
    FLAKY_EFFECTS[ctx.idempotency_key] = FLAKY_EFFECTS.get(ctx.idempotency_key, 0) + 1
    return {"echo": params["value"], "attempt": ctx.attempt}


@pytest.fixture
def tenant():
    return make_tenant()


def _ready(result, bpmn_id):
    matches = [t for t in result.ready_tasks if t.bpmn_id == bpmn_id]
    assert matches, f"{bpmn_id} not ready; ready: {[t.bpmn_id for t in result.ready_tasks]}"
    return matches[0]


def _complete(result, bpmn_id, data, user="alice"):
    task = _ready(result, bpmn_id)
    return engine.instance_complete_task(
        instance_id=result.instance.pk, task_id=task.task_id, data=data, actor_username=user
    )


def _reload(result):
    result.instance.refresh_from_db()
    return result.instance


def test_lanes_and_script_task_with_four_eyes_rule(tenant):
    version = publish_model("lanes_script")
    started = engine.instance_start(tenant=tenant, version=version, data={})
    enter = _ready(started, "enter")
    assert enter.lane == "registrar"
    after_enter = _complete(started, "enter", {"a": 2, "b": 3}, user="alice")
    approve = _ready(after_enter, "approve")
    assert approve.lane == "supervisor"
    assert after_enter.data["total"] == 5
    with pytest.raises(PermissionRefused):
        _complete(after_enter, "approve", {}, user="alice")
    done = _complete(after_enter, "approve", {}, user="bob")
    assert done.instance.status == InstanceStatus.COMPLETED
    assert done.data["approve_completed_by"] == "bob"


@pytest.mark.parametrize(("value", "path"), [(20, "big"), (3, "small")])
def test_exclusive_and_parallel_gateways(tenant, value, path):
    version = publish_model("gateways")
    started = engine.instance_start(tenant=tenant, version=version, data={"start_value": value})
    assert sorted(t.bpmn_id for t in started.ready_tasks) == ["left", "right"]
    assert started.data["path"] == path
    after_left = _complete(started, "left", {})
    assert [t.bpmn_id for t in after_left.ready_tasks] == ["right"]
    assert after_left.instance.status == InstanceStatus.RUNNING
    done = _complete(after_left, "right", {})
    assert done.instance.status == InstanceStatus.COMPLETED


def test_timer_boundary_event_fires_once_when_due(tenant):
    clock.freeze(dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC))
    version = publish_model("timer_boundary")
    started = engine.instance_start(tenant=tenant, version=version, data={})
    instance = _reload(started)
    assert instance.next_timer_at == dt.datetime(2026, 3, 7, 9, 0, tzinfo=dt.UTC)
    clock.advance(dt.timedelta(days=4))
    assert engine.fire_due_timers() == 0
    clock.advance(dt.timedelta(days=1, seconds=1))
    assert engine.fire_due_timers() == 1
    assert engine.fire_due_timers() == 0
    instance.refresh_from_db()
    assert instance.status == InstanceStatus.COMPLETED
    assert instance.next_timer_at is None
    assert selectors.instance_data(instance=instance)["timed_out"] is True


def test_timer_fires_at_its_exact_due_instant(tenant):
    """The sweep selects `next_timer_at <= now`; SpiffWorkflow must fire the timer then too,
    not leave the loaded instance waiting for the next sweep."""
    clock.freeze(dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC))
    version = publish_model("timer_boundary")
    started = engine.instance_start(tenant=tenant, version=version, data={})
    clock.advance(dt.timedelta(days=5, microseconds=-1))
    assert engine.fire_due_timers() == 0
    clock.advance(dt.timedelta(microseconds=1))
    assert engine.fire_due_timers() == 1
    instance = _reload(started)
    assert instance.status == InstanceStatus.COMPLETED
    assert selectors.instance_data(instance=instance)["timed_out"] is True
    assert engine.fire_due_timers() == 0


def test_timer_of_an_event_based_gateway_fires_at_its_exact_due_instant(tenant):
    clock.freeze(dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC))
    version = publish_model("gateway_loop")
    started = engine.instance_start(tenant=tenant, version=version, data={})
    _complete(started, "work", {})
    instance = _reload(started)
    assert instance.next_timer_at == dt.datetime(2026, 3, 7, 9, 0, tzinfo=dt.UTC)
    clock.advance(dt.timedelta(days=5))
    assert engine.fire_due_timers() == 1
    instance.refresh_from_db()
    assert instance.status == InstanceStatus.COMPLETED
    assert instance.next_timer_at is None
    assert "end_silence" in selectors.instance_progress(instance=instance)["done"]


def test_event_based_gateway_in_a_loop_reads_each_rounds_message(tenant):
    """Round after round the gateway catches the same message: each round reads its own payload,
    never the previous round's (nor keys the previous payload had and this one has not)."""
    version = publish_model("gateway_loop")
    result = engine.instance_start(tenant=tenant, version=version, data={}, business_key="LOOP-1")
    rounds = [{"action": "reopen", "note": "ancora rotto"}, {"action": "reopen"}, {"action": "confirm"}]
    for payload in rounds:
        result = _complete(result, "work", {})
        assert engine.deliver_message(tenant=tenant, name="feedback", correlation_key="LOOP-1", payload=payload) == 1
        data = selectors.instance_data(instance=_reload(result))
        assert data["feedback"] == payload
        result.ready_tasks = selectors.instance_ready_tasks(instance=result.instance)
    assert data["answers"] == ["reopen", "reopen", "confirm"]
    assert result.instance.status == InstanceStatus.COMPLETED
    assert rounds[0] == {"action": "reopen", "note": "ancora rotto"}  # the caller's payload is not touched


def test_timer_is_cancelled_when_the_task_is_completed_first(tenant):
    version = publish_model("timer_boundary")
    started = engine.instance_start(tenant=tenant, version=version, data={})
    done = _complete(started, "wait_here", {})
    assert done.instance.status == InstanceStatus.COMPLETED
    assert done.instance.next_timer_at is None
    assert "timed_out" not in done.data


def test_message_catch_correlates_by_business_key(tenant):
    version = publish_model("message_catch")
    one = engine.instance_start(tenant=tenant, version=version, data={}, business_key="K-1")
    two = engine.instance_start(tenant=tenant, version=version, data={}, business_key="K-2")
    assert one.ready_tasks == [] and two.ready_tasks == []
    assert engine.deliver_message(tenant=tenant, name="unknown_message", correlation_key="K-1") == 0
    assert engine.deliver_message(tenant=tenant, name="payment_received", correlation_key="K-1", payload={"iuv": "1"}) == 1
    data_one = selectors.instance_data(instance=_reload(one))
    assert data_one["payment"] == {"iuv": "1"}
    assert "payment" not in selectors.instance_data(instance=_reload(two))
    # a second delivery finds nobody waiting any more
    assert engine.deliver_message(tenant=tenant, name="payment_received", correlation_key="K-1") == 0


def test_message_of_another_tenant_is_not_delivered(tenant):
    other = make_tenant("Altro Comune")
    version = publish_model("message_catch")
    engine.instance_start(tenant=tenant, version=version, data={}, business_key="SAME")
    assert engine.deliver_message(tenant=other, name="payment_received", correlation_key="SAME") == 0


def test_service_task_through_outbox_retries_then_completes_once(tenant, settings):
    settings.PROCEDO_OUTBOX_BACKOFF_SECONDS = 10
    clock.freeze(dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC))
    version = publish_model("service_outbox")
    started = engine.instance_start(tenant=tenant, version=version, data={"start_value": "ciao"})
    assert started.ready_tasks == []
    message = OutboxMessage.objects.get(instance=started.instance)
    assert message.operation == "test.flaky" and message.params == {"value": "ciao"}
    assert engine.outbox_deliver_due() == {"retry": 1}
    assert engine.outbox_deliver_due() == {}  # backing off
    clock.advance(dt.timedelta(seconds=11))
    assert engine.outbox_deliver_due() == {"retry": 1}
    clock.advance(dt.timedelta(seconds=21))
    assert engine.outbox_deliver_due() == {"done": 1}
    # delivering the same message again changes nothing
    assert engine.outbox_deliver(message.pk) == "skipped"
    message.refresh_from_db()
    assert message.status == OutboxStatus.DONE and message.attempts == 3
    assert FLAKY_EFFECTS[message.idempotency_key] == 1
    instance = _reload(started)
    data = selectors.instance_data(instance=instance)
    assert data["flaky_result"] == {"echo": "ciao", "attempt": 3}
    assert [t.bpmn_id for t in selectors.instance_ready_tasks(instance=instance)] == ["check"]


def test_service_giving_up_becomes_an_incident_and_retry_recovers(tenant, settings):
    settings.PROCEDO_OUTBOX_MAX_ATTEMPTS = 2
    settings.PROCEDO_OUTBOX_BACKOFF_SECONDS = 1
    clock.freeze(dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC))
    version = publish_model("service_outbox")
    started = engine.instance_start(tenant=tenant, version=version, data={"start_value": "x"})
    assert engine.outbox_deliver_due() == {"retry": 1}
    clock.advance(dt.timedelta(seconds=5))
    assert engine.outbox_deliver_due() == {"failed": 1}
    incident = Incident.objects.get(instance=started.instance)
    assert incident.kind == "service_failed" and "test.flaky" in incident.message
    engine.incident_retry(incident_id=incident.pk, tenant=tenant, actor_username="admin")
    assert engine.outbox_deliver_due() == {"done": 1}
    incident.refresh_from_db()
    assert incident.status == "resolved"
    assert [t.bpmn_id for t in selectors.instance_ready_tasks(instance=_reload(started))] == ["check"]


def test_call_activity_runs_the_child_process(tenant):
    version = publish_model("call_activity", also=("call_activity_child",))
    started = engine.instance_start(tenant=tenant, version=version, data={})
    after_child = _complete(started, "child_task", {"note": "ok"})
    _ready(after_child, "after_child")
    assert after_child.data["child_done"] is True
    done = _complete(after_child, "after_child", {})
    assert done.instance.status == InstanceStatus.COMPLETED


def test_parallel_multi_instance_creates_one_task_per_member(tenant):
    version = publish_model("multi_instance")
    started = engine.instance_start(tenant=tenant, version=version, data={"members": ["anna", "bruno", "carla"]})
    tasks = [t for t in started.ready_tasks if t.bpmn_id == "review_member"]
    assert len(tasks) == 3
    result = started
    for task in tasks:
        result = engine.instance_complete_task(
            instance_id=started.instance.pk, task_id=task.task_id, data={"ok": True}, actor_username="alice"
        )
    assert result.instance.status == InstanceStatus.COMPLETED
    assert len(result.data["reviews"]) == 3


@pytest.mark.parametrize(("kind", "fee"), [("historic_certificate", 16.0), ("certificate", 0.0)])
def test_dmn_business_rule_task(tenant, kind, fee):
    version = publish_model("dmn_fee")
    started = engine.instance_start(tenant=tenant, version=version, data={"kind": kind})
    _ready(started, "show_fee")
    assert started.data["fee"] == fee


def test_script_error_becomes_one_incident_and_the_case_waits(tenant):
    version = publish_model("gateways")
    started = engine.instance_start(tenant=tenant, version=version, data={})  # start_value missing
    assert started.ready_tasks == []
    assert started.instance.status == InstanceStatus.ERROR
    incident = Incident.objects.get(instance=started.instance)
    assert incident.kind == "script_error"
    assert "start_value" in incident.message
    # retrying without a fix fails again, as a new incident, never silently
    engine.incident_retry(incident_id=incident.pk, tenant=tenant, actor_username="admin")
    assert Incident.objects.filter(instance=started.instance, status="open").count() == 1


def test_a_case_stays_on_its_version(tenant):
    version = publish_model("lanes_script")
    started = engine.instance_start(tenant=tenant, version=version, data={})
    stored = WorkflowInstance.objects.get(pk=started.instance.pk)
    assert stored.process_version_id == version.pk
    state = json.loads(stored.state)
    assert "spec" not in state  # specs live with the version, not in every instance
    assert stored.revision == 1
