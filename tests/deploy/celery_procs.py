"""Real Celery worker and publisher processes on RabbitMQ, configured only through the environment
the way deploy/ starts them (CELERY_BROKER_URL=amqp://..., DATABASE_URL, one `-Q` per worker)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]
QUEUES = ("default", "engine", "connectors", "documents")


def amqp_url() -> str:
    return os.environ.get("PROCEDO_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//")


def require_rabbitmq() -> str:
    """The broker the tests run on; scripts/ensure-system.sh starts it, so a missing one is a failure."""
    url = amqp_url()
    parsed = urlparse(url)
    try:
        socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or 5672), timeout=3).close()
    except OSError as exc:
        pytest.fail(f"RabbitMQ is not reachable at {parsed.hostname}:{parsed.port} ({exc}): run scripts/ensure-system.sh")
    return url


def _db_url() -> str:
    s = connection.settings_dict
    return f"postgres://{s['USER'] or 'postgres'}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def process_env(broker_url: str) -> dict[str, str]:
    env = {
        **os.environ,
        "DATABASE_URL": _db_url(),
        "CELERY_BROKER_URL": broker_url,
        "PROCEDO_EXTRA_OPERATION_MODULES": "tests.engine.worker_ops",
        "PYTHONPATH": str(ROOT),
        "DJANGO_SETTINGS_MODULE": "config.settings",
    }
    env.pop("CELERY_TASK_ALWAYS_EAGER", None)
    return env


class Worker:
    def __init__(self, broker_url: str, queues: str, log_dir: Path, name: str):
        self.log = log_dir / f"{name}.log"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool=solo", "--loglevel=INFO",
             "-Q", queues, "-n", f"{name}@%h", "--without-heartbeat", "--without-gossip", "--without-mingle"],
            cwd=ROOT, env=process_env(broker_url), stdout=self.log.open("wb"), stderr=subprocess.STDOUT,
        )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_ready(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if " ready." in self.output():
                return
            if self.proc.poll() is not None:
                pytest.fail("worker exited: " + self.output()[-3000:])
            time.sleep(0.3)
        pytest.fail("worker not ready: " + self.output()[-3000:])

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)


PUBLISH = """
import json, sys
import django
django.setup()
from config.celery import app
with app.connection_for_write() as conn:  # every queue, as a worker declares them at start
    for queue in app.amqp.queues.values():
        queue(conn.default_channel).declare()
for name, args in json.loads(sys.argv[1]):
    app.send_task(name, args=args)
"""


def publish(broker_url: str, tasks: list[tuple[str, list]]) -> None:
    """Send tasks from a separate process whose settings come from the environment alone, so the
    queues it declares and the routes it applies are the production ones."""
    import json

    subprocess.run([sys.executable, "-c", PUBLISH, json.dumps(tasks)], cwd=ROOT, env=process_env(broker_url),
                   check=True, timeout=120)


def delete_queues(broker_url: str) -> None:
    from kombu import Connection

    with Connection(broker_url) as conn:
        for name in QUEUES:
            channel = conn.channel()
            try:
                channel.queue_delete(name)
                channel.exchange_delete(name)
            finally:
                try:
                    channel.close()
                except Exception:
                    pass


def message_count(broker_url: str, queue: str) -> int:
    from kombu import Connection

    with Connection(broker_url) as conn:
        channel = conn.channel()
        try:
            _name, count, _consumers = channel.queue_declare(queue=queue, passive=True)
            return count
        finally:
            channel.close()
