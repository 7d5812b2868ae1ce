"""Two writers on one case at the same moment, 200 rounds per pair, on PostgreSQL.

Every write path takes its locks in the order of engine.locks (the instance row first). Each
round starts two threads on one case behind a barrier; afterwards the case must be consistent
(open work items = READY user tasks of the engine; case status = instance status), the loser of
an exclusive pair must have met a clean domain error (Conflict/NotFound), and no transaction may
have needed the deadlock retry at all: the lock order, not the retry, keeps them apart.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection, transaction

from accounts.roles import Role
from audit.models import AuditEvent
from cases.models import Case, CaseStatus, WorkItem, WorkItemStatus
from cases.services import case_cancel, case_start, work_item_assign, work_item_claim, work_item_complete
from common import clock
from common.errors import Conflict, NotFound, ProcedoError
from engine import locks, outbox, selectors, timers
from engine.models import InstanceStatus, OutboxMessage, OutboxStatus, WorkflowInstance
from engine.runtime import InstanceRuntime
from engine.types import StaleInstance
from tests.engine import worker_ops  # noqa: F401  (registers test.echo)
from tests.engine_models import inline_bundle, publish_model
from tests.factories import api_client, make_tenant, make_user

ROUNDS = 200
T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

# A user task and a service call in parallel, joined before the end: a completion and a
# service result can land on the same case at the same moment, and both must count.
PARALLEL_BPMN = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
                  xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core"
                  id="defs_race_parallel" targetNamespace="http://procedo.example/tests">
  <bpmn:process id="race_parallel" name="Compito e servizio in parallelo" isExecutable="true">
    <bpmn:laneSet id="lanes">
      <bpmn:lane id="lane_registrar" name="registrar">
        <bpmn:flowNodeRef>start</bpmn:flowNodeRef><bpmn:flowNodeRef>split</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>work</bpmn:flowNodeRef><bpmn:flowNodeRef>call_it</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>join</bpmn:flowNodeRef><bpmn:flowNodeRef>end</bpmn:flowNodeRef>
      </bpmn:lane>
    </bpmn:laneSet>
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:parallelGateway id="split"><bpmn:incoming>f1</bpmn:incoming>
      <bpmn:outgoing>f2</bpmn:outgoing><bpmn:outgoing>f3</bpmn:outgoing></bpmn:parallelGateway>
    <bpmn:userTask id="work" name="Lavoro">
      <bpmn:extensionElements><spiffworkflow:properties>
        <spiffworkflow:property name="formJsonSchemaFilename" value="work.schema.json" />
      </spiffworkflow:properties></bpmn:extensionElements>
      <bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f4</bpmn:outgoing></bpmn:userTask>
    <bpmn:serviceTask id="call_it" name="Chiamata">
      <bpmn:extensionElements>
        <spiffworkflow:serviceTaskOperator id="test.echo" resultVariable="echo_result">
          <spiffworkflow:parameters>
            <spiffworkflow:parameter id="value" type="any" value="case_number" />
          </spiffworkflow:parameters>
        </spiffworkflow:serviceTaskOperator>
      </bpmn:extensionElements>
      <bpmn:incoming>f3</bpmn:incoming><bpmn:outgoing>f5</bpmn:outgoing>
    </bpmn:serviceTask>
    <bpmn:parallelGateway id="join"><bpmn:incoming>f4</bpmn:incoming><bpmn:incoming>f5</bpmn:incoming>
      <bpmn:outgoing>f6</bpmn:outgoing></bpmn:parallelGateway>
    <bpmn:endEvent id="end"><bpmn:incoming>f6</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="split" />
    <bpmn:sequenceFlow id="f2" sourceRef="split" targetRef="work" />
    <bpmn:sequenceFlow id="f3" sourceRef="split" targetRef="call_it" />
    <bpmn:sequenceFlow id="f4" sourceRef="work" targetRef="join" />
    <bpmn:sequenceFlow id="f5" sourceRef="call_it" targetRef="join" />
    <bpmn:sequenceFlow id="f6" sourceRef="join" targetRef="end" />
  </bpmn:process>
</bpmn:definitions>
"""


class Office:
    def __init__(self) -> None:
        self.tenant = make_tenant()
        self.alice = make_user(self.tenant, Role.REGISTRAR)
        self.bruno = make_user(self.tenant, Role.REGISTRAR)
        self.sara = make_user(self.tenant, Role.SUPERVISOR)

    def open_cases(self, process_id: str, n: int) -> list[Case]:
        return [case_start(tenant=self.tenant, user=self.alice, process_id=process_id, data={}) for _ in range(n)]


@pytest.fixture
def office() -> Office:
    clock.freeze(T0)
    return Office()


@pytest.fixture
def retries(caplog) -> Callable[[], list[str]]:
    caplog.set_level(logging.WARNING, logger="engine.locks")
    return lambda: [r.getMessage() for r in caplog.records if r.name == "engine.locks"]


def race(rounds: int, first: Callable[[int], Any], second: Callable[[int], Any]) -> list[tuple[Any, Any]]:
    """Run first(i) and second(i) at the same moment for each round i, each in its own thread with
    its own connection. An outcome is the return value, or the domain error raised; any other
    exception (a database error, a deadlock) fails the test."""
    barrier = threading.Barrier(2)
    outcomes: list[list[Any]] = [[None, None] for _ in range(rounds)]
    crashes: list[BaseException] = []

    def run(slot: int, action: Callable[[int], Any]) -> None:
        try:
            for i in range(rounds):
                barrier.wait(timeout=30)
                try:
                    outcomes[i][slot] = action(i)
                except ProcedoError as exc:
                    outcomes[i][slot] = exc
        except BaseException as exc:  # surfaced below, with the barrier broken for the other side
            crashes.append(exc)
            barrier.abort()
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(slot, action)) for slot, action in enumerate((first, second))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    assert not crashes, crashes
    return [(a, b) for a, b in outcomes]


def won(outcome: Any) -> bool:
    return outcome is not None and outcome is not False and not isinstance(outcome, ProcedoError)


def assert_clean_loss(outcome: Any) -> None:
    assert outcome is False or isinstance(outcome, Conflict | NotFound), outcome


def assert_consistent(case_ids: list[int]) -> None:
    """The projection agrees with the engine for every case."""
    expected_status = {
        InstanceStatus.RUNNING: CaseStatus.OPEN,
        InstanceStatus.COMPLETED: CaseStatus.CLOSED,
        InstanceStatus.CANCELLED: CaseStatus.CANCELLED,
    }
    for case in Case.objects.filter(pk__in=case_ids).select_related("instance", "instance__tenant"):
        instance = case.instance
        ready = {t.task_id for t in selectors.instance_ready_tasks(instance=instance)}
        open_items = set(WorkItem.objects.filter(case=case, status=WorkItemStatus.OPEN).values_list("task_id", flat=True))
        assert open_items == ready, case.number
        assert case.status == expected_status[instance.status], (case.number, case.status, instance.status)


def test_completion_against_boundary_timer_one_winner(office, retries):
    publish_model("timer_boundary")
    cases = office.open_cases("timer_boundary", ROUNDS)
    items = [WorkItem.objects.get(case=c, status=WorkItemStatus.OPEN) for c in cases]
    clock.advance(dt.timedelta(days=6))  # every boundary timer (P5D) is due

    outcomes = race(
        ROUNDS,
        lambda i: work_item_complete(work_item_id=items[i].pk, tenant=office.tenant, user=office.alice, data={}),
        lambda i: timers.timer_fire(cases[i].instance_id),
    )

    for (completion, timer), case in zip(outcomes, cases, strict=True):
        assert won(completion) != won(timer), (case.number, completion, timer)
        assert_clean_loss(timer if won(completion) else completion)
        instance = WorkflowInstance.objects.get(pk=case.instance_id)
        assert instance.status == InstanceStatus.COMPLETED
        assert instance.revision == 2  # started, then exactly one step
        timed_out = selectors.instance_data(instance=instance).get("timed_out")
        assert bool(timed_out) == won(timer)
    assert_consistent([c.pk for c in cases])
    assert retries() == []


def test_completion_against_cancel_one_winner(office, retries):
    publish_model("timer_boundary")
    cases = office.open_cases("timer_boundary", ROUNDS)
    items = [WorkItem.objects.get(case=c, status=WorkItemStatus.OPEN) for c in cases]

    outcomes = race(
        ROUNDS,
        lambda i: work_item_complete(work_item_id=items[i].pk, tenant=office.tenant, user=office.alice, data={}),
        lambda i: case_cancel(case_id=cases[i].pk, tenant=office.tenant, user=office.sara, reason="doppione"),
    )

    for (completion, cancel), case in zip(outcomes, cases, strict=True):
        assert won(completion) != won(cancel), (case.number, completion, cancel)
        assert_clean_loss(cancel if won(completion) else completion)
        case.refresh_from_db()
        assert case.status == (CaseStatus.CLOSED if won(completion) else CaseStatus.CANCELLED)
    completed = sum(won(c) for c, _ in outcomes)
    assert AuditEvent.objects.filter(tenant=office.tenant, action="complete").count() == completed
    assert AuditEvent.objects.filter(tenant=office.tenant, action="cancel").count() == ROUNDS - completed
    assert_consistent([c.pk for c in cases])
    assert retries() == []


def test_through_the_api_the_loser_of_completion_against_cancel_gets_409_never_500(office, retries):
    publish_model("timer_boundary")
    rounds = 30  # the HTTP stack on top of the same services: fewer rounds, same question
    cases = office.open_cases("timer_boundary", rounds)
    items = [WorkItem.objects.get(case=c, status=WorkItemStatus.OPEN) for c in cases]
    clients: dict[int, Any] = {}

    def client_of(user):  # one client per thread (and per user), built inside that thread
        key = threading.get_ident()
        if key not in clients:
            clients[key] = api_client(user, office.tenant)
        return clients[key]

    outcomes = race(
        rounds,
        lambda i: client_of(office.alice).post(f"/api/v1/tasks/{items[i].pk}/complete/", {"data": {}},
                                               format="json").status_code,
        lambda i: client_of(office.sara).post(f"/api/v1/cases/{cases[i].pk}/cancel/", {"reason": "doppione"},
                                              format="json").status_code,
    )

    assert all(sorted(pair) == [200, 409] for pair in outcomes), outcomes
    assert_consistent([c.pk for c in cases])
    assert retries() == []


def test_completion_against_service_result_both_count(office, retries):
    version = publish_parallel()
    cases = office.open_cases(version.definition.process_id, ROUNDS)
    items = [WorkItem.objects.get(case=c, status=WorkItemStatus.OPEN) for c in cases]
    messages = [OutboxMessage.objects.get(instance_id=c.instance_id) for c in cases]

    outcomes = race(
        ROUNDS,
        lambda i: work_item_complete(work_item_id=items[i].pk, tenant=office.tenant, user=office.alice, data={}),
        lambda i: outbox.outbox_deliver(messages[i].pk),
    )

    for (completion, delivery), case in zip(outcomes, cases, strict=True):
        assert won(completion), (case.number, completion)
        assert delivery == "done", (case.number, delivery)
        instance = WorkflowInstance.objects.get(pk=case.instance_id)
        assert instance.status == InstanceStatus.COMPLETED  # the join saw both branches
        assert instance.revision == 3  # started, completed, service result: no step lost
        assert selectors.instance_data(instance=instance)["echo_result"]["echo"] == case.number
    assert set(OutboxMessage.objects.filter(pk__in=[m.pk for m in messages]).values_list("status", flat=True)) == {
        OutboxStatus.DONE}
    assert_consistent([c.pk for c in cases])
    assert retries() == []


def test_cancel_against_timer_one_winner(office, retries):
    publish_model("timer_boundary")
    cases = office.open_cases("timer_boundary", ROUNDS)
    clock.advance(dt.timedelta(days=6))

    outcomes = race(
        ROUNDS,
        lambda i: case_cancel(case_id=cases[i].pk, tenant=office.tenant, user=office.sara, reason="doppione"),
        lambda i: timers.timer_fire(cases[i].instance_id),
    )

    for (cancel, timer), case in zip(outcomes, cases, strict=True):
        assert won(cancel) != won(timer), (case.number, cancel, timer)
        assert_clean_loss(timer if won(cancel) else cancel)
        instance = WorkflowInstance.objects.get(pk=case.instance_id)
        assert instance.status == (InstanceStatus.CANCELLED if won(cancel) else InstanceStatus.COMPLETED)
        assert instance.next_timer_at is None
    assert timers.fire_due_timers() == 0  # nothing left to fire twice
    assert_consistent([c.pk for c in cases])
    assert retries() == []


def test_claim_against_assign_the_supervisor_has_the_last_word(office, retries):
    publish_model("timer_boundary")
    cases = office.open_cases("timer_boundary", ROUNDS)
    items = [WorkItem.objects.get(case=c, status=WorkItemStatus.OPEN) for c in cases]

    outcomes = race(
        ROUNDS,
        lambda i: work_item_claim(work_item_id=items[i].pk, tenant=office.tenant, user=office.alice),
        lambda i: work_item_assign(work_item_id=items[i].pk, tenant=office.tenant, user=office.sara,
                                   assignee=office.bruno),
    )

    claims = 0
    for (claim, assign), item in zip(outcomes, items, strict=True):
        assert won(assign), (item.pk, assign)
        if not won(claim):
            assert isinstance(claim, Conflict) and claim.code == "claimed_by_other", claim
        claims += won(claim)
        # A claim either came first and was overridden, or met the assignment and was refused.
        assert WorkItem.objects.get(pk=item.pk).assignee_id == office.bruno.pk
    assert AuditEvent.objects.filter(tenant=office.tenant, action="claim").count() == claims
    assert AuditEvent.objects.filter(tenant=office.tenant, action="assign").count() == ROUNDS
    assert retries() == []


def publish_parallel():
    from engine.models import ProcessVersion
    from engine.registry import process_version_publish

    outcome = process_version_publish(
        bundle=inline_bundle("race_parallel", "Compito e servizio in parallelo", {"race_parallel.bpmn": PARALLEL_BPMN, "forms/work.schema.json": '{"type": "object"}'})
    )
    return ProcessVersion.objects.select_related("definition").get(
        definition__process_id="race_parallel", version=outcome.version
    )


# --------------------------------------------------------------------------- the safety nets


def test_a_deadlock_that_still_happens_is_replayed_not_surfaced(office, retries):
    """Two transactions that lock two instances in opposite orders (what the lock order forbids):
    PostgreSQL kills one with 40P01; run_in_transaction replays it and both end well."""
    publish_model("timer_boundary")
    one, two = (c.instance_id for c in office.open_cases("timer_boundary", 2))
    barrier = threading.Barrier(2)
    results: list[Any] = []

    def lock_both(first: int, second: int) -> None:
        attempts = []

        def body() -> str:
            attempts.append(1)
            locks.lock_instance(first)
            if len(attempts) == 1:
                barrier.wait(timeout=10)  # both hold their first row before asking for the second
            locks.lock_instance(second)
            return "ok"

        try:
            results.append(locks.run_in_transaction(body, what="test"))
        except BaseException as exc:
            results.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=lock_both, args=pair) for pair in ((one, two), (two, one))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert results == ["ok", "ok"]
    assert any("transient failure" in m for m in retries())


def test_inside_a_transaction_it_does_not_own_the_retry_layer_replays_nothing(office):
    calls = []

    def body() -> None:
        calls.append(1)
        raise StaleInstance("stale")

    with pytest.raises(StaleInstance), transaction.atomic():
        locks.run_in_transaction(body, what="test")
    assert calls == [1]


def test_a_save_over_a_revision_written_meanwhile_is_refused(office):
    publish_model("timer_boundary")
    (case,) = office.open_cases("timer_boundary", 1)
    with transaction.atomic():
        runtime = InstanceRuntime.load(locks.lock_instance(case.instance_id))
        # A writer that did not take the lock moves the revision under us.
        WorkflowInstance.objects.filter(pk=case.instance_id).update(revision=runtime.instance.revision + 1)
        with pytest.raises(StaleInstance):
            runtime.save()


def test_the_runtime_refuses_an_instance_that_was_not_locked(office):
    publish_model("timer_boundary")
    (case,) = office.open_cases("timer_boundary", 1)
    with pytest.raises(RuntimeError, match="must be locked"):
        InstanceRuntime.load(WorkflowInstance.objects.get(pk=case.instance_id))
