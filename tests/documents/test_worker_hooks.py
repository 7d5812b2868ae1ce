"""Each Celery worker process starts warm converters and stops them on shutdown."""

from __future__ import annotations

from celery.signals import worker_process_init, worker_process_shutdown
from django.conf import settings as django_settings

from documents import render, worker


def test_the_hooks_are_connected_to_the_worker_signals():
    assert worker.start_converters in [r() for _, r in worker_process_init.receivers]
    assert worker.stop_converters in [r() for _, r in worker_process_shutdown.receivers]


def test_a_worker_process_starts_and_stops_its_converters(monkeypatch):
    calls = []
    monkeypatch.setattr(render, "start_pool", lambda size=None: calls.append(("start", size)))
    monkeypatch.setattr(render, "pool_running", lambda: True)
    monkeypatch.setattr(render, "stop_pool", lambda: calls.append(("stop", None)))
    monkeypatch.setattr(django_settings, "PROCEDO_CONVERTERS_PER_WORKER", "2")
    worker_process_init.send(sender=None)  # returns at once: the start runs in a thread
    worker_process_shutdown.send(sender=None)  # waits for it, then stops
    assert calls == [("start", 2), ("stop", None)]


def test_converters_can_be_turned_off_and_a_missing_libreoffice_does_not_kill_the_worker(monkeypatch, caplog):
    calls = []
    monkeypatch.setattr(render, "start_pool", lambda size=None: calls.append(size))
    monkeypatch.setattr(django_settings, "PROCEDO_CONVERTERS_PER_WORKER", "0")
    worker.start_converters()
    assert calls == [] and worker.start_converters() is None

    def broken(size=None):
        raise RuntimeError("soffice not found")

    monkeypatch.setattr(render, "start_pool", broken)
    monkeypatch.setattr(django_settings, "PROCEDO_CONVERTERS_PER_WORKER", "1")
    worker.start_converters().join()  # logged, not raised
    assert "could not start the LibreOffice converters" in caplog.text
