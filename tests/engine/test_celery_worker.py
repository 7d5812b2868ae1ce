"""A service task goes through the outbox to a real Celery worker (Redis broker) and back."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection

from accounts.roles import Role
from cases.models import Case, WorkItem
from cases.services import case_start
from engine.bundles import read_bundle
from engine.models import OutboxMessage
from engine.registry import process_version_publish
from tests.engine import worker_ops  # noqa: F401  (registers test.echo here too)
from tests.factories import make_tenant, make_user

ROOT = Path(__file__).resolve().parents[2]
BUNDLE = Path(__file__).parent / "bundles" / "service_then_task"


def _redis_url() -> str:
    return os.environ.get("PROCEDO_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture
def worker(settings):
    s = connection.settings_dict
    db_url = f"postgres://{s['USER'] or 'postgres'}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"
    env = {
        **os.environ,
        "DATABASE_URL": db_url,
        "CELERY_BROKER_URL": _redis_url(),
        "PROCEDO_EXTRA_OPERATION_MODULES": "tests.engine.worker_ops",
        "PYTHONPATH": str(ROOT),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool=solo", "--loglevel=WARNING",
         "-Q", "connectors", "--without-heartbeat", "--without-gossip", "--without-mingle"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    settings.CELERY_BROKER_URL = _redis_url()
    settings.PROCEDO_OUTBOX_DISPATCH = "celery"
    from config.celery import app

    app.conf.broker_url = _redis_url()
    # An earlier test of the session may have published through the app on another broker: its cached
    # connection and producer pools would still point there, and the message would never reach this worker.
    if app._pool is not None:
        app._pool.force_close_all()
        app._pool = None
    app.amqp._producer_pool = None
    yield proc
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
    app.conf.broker_url = settings.CELERY_BROKER_URL


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_outbox_message_is_delivered_by_a_real_worker(worker):
    process_version_publish(bundle=read_bundle(BUNDLE))
    tenant = make_tenant()
    user = make_user(tenant, Role.REGISTRAR)
    case = case_start(tenant=tenant, user=user, process_id="service_then_task", data={})
    deadline = time.monotonic() + 240  # a worker starting on a loaded 2-core machine
    while time.monotonic() < deadline:
        if WorkItem.objects.filter(case=case, bpmn_id="check").exists():
            break
        if worker.poll() is not None:
            pytest.fail("worker exited: " + worker.stdout.read().decode(errors="replace")[-2000:])
        time.sleep(0.2)
    else:
        pytest.fail("the worker did not deliver the outbox message within 240 s")
    message = OutboxMessage.objects.get(instance_id=case.instance_id)
    assert message.status == "done" and message.attempts == 1
    case = Case.objects.get(pk=case.pk)
    assert case.data["echo_result"] == {"echo": case.number, "key": message.idempotency_key}
