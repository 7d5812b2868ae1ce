"""Two workers firing timers at once fire each due timer exactly once."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.db import connection

from common import clock
from engine import services as engine
from engine.models import InstanceStatus, WorkflowInstance
from tests.engine_models import publish_bundle
from tests.factories import make_tenant


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_workers_fire_each_due_timer_exactly_once():
    clock.freeze(dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC))
    tenant = make_tenant()
    version = publish_bundle("timer_wait")
    ids = [engine.instance_start(tenant=tenant, version=version, data={}).instance.pk for _ in range(20)]
    clock.advance(dt.timedelta(days=6))

    barrier = threading.Barrier(2)
    fired: list[int] = []

    def worker():
        try:
            barrier.wait(timeout=10)
            fired.append(engine.fire_due_timers())
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sum(fired) == 20
    instances = WorkflowInstance.objects.filter(pk__in=ids)
    assert all(i.status == InstanceStatus.COMPLETED for i in instances)
    # each instance advanced exactly once by the timer: start (1) + timer (1)
    assert sorted({i.revision for i in instances}) == [2]
