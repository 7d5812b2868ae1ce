"""The production queues on the real RabbitMQ: quorum queues, routing by kind of work, and a backlog
of platform calls that does not hold up the engine; two schedulers ticking at once fire nothing twice."""

from __future__ import annotations

import datetime as dt
import shutil
import time

import pytest
from kombu import Connection

from accounts.roles import Role
from cases.models import WorkItem
from cases.services import case_start
from common import clock
from engine import services as engine
from engine.bundles import read_bundle
from engine.models import InstanceStatus, OutboxMessage, OutboxStatus, WorkflowInstance
from engine.registry import process_version_publish
from tests.deploy import celery_procs
from tests.engine import worker_ops  # noqa: F401  (registers test.echo in this process too)
from tests.engine.test_celery_worker import BUNDLE as SERVICE_THEN_TASK
from tests.engine_models import publish_bundle
from tests.factories import make_tenant, make_user

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

TIMERS = "engine.tasks.fire_due_timers_task"
SWEEP = "engine.tasks.deliver_due_outbox_task"
DELIVER = "engine.tasks.deliver_outbox_task"


@pytest.fixture
def broker():
    url = celery_procs.require_rabbitmq()
    celery_procs.delete_queues(url)  # a clean slate: no messages or queue types left by an earlier run
    yield url
    celery_procs.delete_queues(url)


@pytest.fixture
def workers(broker, tmp_path):
    started: list[celery_procs.Worker] = []

    def start(queues: str, name: str) -> celery_procs.Worker:
        worker = celery_procs.Worker(broker, queues, tmp_path, name)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


def _due_timer_instances(n: int) -> list[int]:
    # Started in the past, so their five-day timers are due for the workers' real clock.
    clock.freeze(dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC))
    tenant = make_tenant()
    version = publish_bundle("timer_wait")
    ids = [engine.instance_start(tenant=tenant, version=version, data={}).instance.pk for _ in range(n)]
    clock.reset()
    return ids


def _wait_for(predicate, *, timeout: float, workers: list[celery_procs.Worker], what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        for worker in workers:
            if worker.proc.poll() is not None:
                pytest.fail(f"worker exited while waiting for {what}: " + worker.output()[-3000:])
        time.sleep(0.3)
    pytest.fail(f"{what} did not happen within {timeout} s; worker logs:\n"
                + "\n".join(w.output()[-2000:] for w in workers))


def test_a_backlog_of_platform_calls_does_not_hold_up_the_timers(broker, workers):
    ids = _due_timer_instances(5)
    engine_worker = workers("engine", "engine")
    engine_worker.wait_ready()
    # A platform that stopped answering: its deliveries pile up in `connectors` (no worker can take
    # them), then a timer sweep is queued behind them in time.
    backlog = 40
    celery_procs.publish(broker, [(DELIVER, [10**9 + i]) for i in range(backlog)] + [(TIMERS, [])])

    def fired():
        return WorkflowInstance.objects.filter(pk__in=ids, status=InstanceStatus.COMPLETED).count() == len(ids)

    _wait_for(fired, timeout=90, workers=[engine_worker], what="the timers firing")
    assert celery_procs.message_count(broker, "connectors") == backlog  # still waiting, none lost
    assert celery_procs.message_count(broker, "engine") == 0


def test_queues_are_quorum_queues_and_tasks_land_on_their_queue(broker):
    celery_procs.publish(broker, [("audit.tasks.seal_audit_chains_task", []), (TIMERS, []), (SWEEP, []),
                                  (DELIVER, [10**9])])
    with Connection(broker) as conn:
        for name in celery_procs.QUEUES:
            channel = conn.channel()
            # Redeclaring a quorum queue as a classic one is refused (PRECONDITION_FAILED).
            with pytest.raises(Exception, match="PRECONDITION_FAILED"):
                channel.queue_declare(queue=name, durable=True, auto_delete=False,
                                      arguments={"x-queue-type": "classic"})
    expected = {"default": 1, "engine": 1, "connectors": 2, "documents": 0}
    deadline = time.monotonic() + 10  # a quorum queue's count follows its log by a moment
    while time.monotonic() < deadline:
        counts = {name: celery_procs.message_count(broker, name) for name in celery_procs.QUEUES}
        if counts == expected:
            break
        time.sleep(0.2)
    assert counts == expected


def test_two_schedulers_ticking_at_once_fire_each_timer_and_deliver_each_call_once(broker, workers):
    timer_ids = _due_timer_instances(12)
    process_version_publish(bundle=read_bundle(SERVICE_THEN_TASK))
    tenant = make_tenant()
    user = make_user(tenant, Role.REGISTRAR)
    # PROCEDO_OUTBOX_DISPATCH is "none" in tests: the calls wait for the sweep, as after a broker outage.
    cases = [case_start(tenant=tenant, user=user, process_id="service_then_task", data={}) for _ in range(8)]
    pool = [workers("engine,connectors", f"w{i}") for i in range(2)]
    for worker in pool:
        worker.wait_ready()
    # Two beats (a misconfigured second scheduler, or a failover overlap) send every periodic task twice.
    celery_procs.publish(broker, [(TIMERS, []), (TIMERS, []), (SWEEP, []), (SWEEP, [])])

    def done():
        timers_done = WorkflowInstance.objects.filter(pk__in=timer_ids, status=InstanceStatus.COMPLETED).count()
        calls_done = OutboxMessage.objects.filter(status=OutboxStatus.DONE).count()
        return timers_done == len(timer_ids) and calls_done == len(cases)

    _wait_for(done, timeout=120, workers=pool, what="the timers and the outbox calls")
    # each timer instance advanced exactly once by its timer: start (1) + timer (1)
    assert sorted({i.revision for i in WorkflowInstance.objects.filter(pk__in=timer_ids)}) == [2]
    for case in cases:
        message = OutboxMessage.objects.get(instance_id=case.instance_id)
        assert message.attempts == 1
        assert WorkItem.objects.filter(case=case, bpmn_id="check").count() == 1


def test_a_document_render_retried_by_the_sweep_runs_on_the_documents_workers(broker, workers, tmp_path):
    """The sweep runs on the connectors workers; a due `documents.*` call it finds is claimed there
    and sent to the documents queue, never rendered inline by a worker without LibreOffice."""
    bundle = tmp_path / "service_then_task"  # the folder is named after its process
    shutil.copytree(SERVICE_THEN_TASK, bundle)
    bpmn = bundle / "service_then_task.bpmn"
    bpmn.write_text(bpmn.read_text().replace('id="test.echo"', 'id="documents.test_echo"'))
    process_version_publish(bundle=read_bundle(bundle))
    tenant = make_tenant()
    user = make_user(tenant, Role.REGISTRAR)
    # PROCEDO_OUTBOX_DISPATCH is "none" in tests: the call waits for the sweep, as after a broker outage.
    case = case_start(tenant=tenant, user=user, process_id="service_then_task", data={})
    connectors = workers("connectors", "connectors")
    connectors.wait_ready()
    celery_procs.publish(broker, [(SWEEP, [])])

    def sent_on():
        return celery_procs.message_count(broker, "documents") == 1

    _wait_for(sent_on, timeout=60, workers=[connectors], what="the sweep sending the render to the documents queue")
    message = OutboxMessage.objects.get(instance_id=case.instance_id)
    assert message.status == OutboxStatus.RUNNING and message.attempts == 1  # claimed, not performed
    # A second sweep while it waits in its queue leaves it alone (its claim's lease still runs).
    celery_procs.publish(broker, [(SWEEP, [])])
    time.sleep(2)
    assert celery_procs.message_count(broker, "documents") == 1
    documents = workers("documents", "documents")
    documents.wait_ready()

    def done():
        return OutboxMessage.objects.filter(pk=message.pk, status=OutboxStatus.DONE).exists()

    _wait_for(done, timeout=60, workers=[documents], what="the documents worker performing the render")
    message.refresh_from_db()
    assert message.attempts == 1
    assert WorkItem.objects.filter(case=case, bpmn_id="check").count() == 1
