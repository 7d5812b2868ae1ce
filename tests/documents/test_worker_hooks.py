"""Each Celery worker process starts warm converters and stops them on shutdown."""

from __future__ import annotations

from celery.signals import worker_process_init, worker_process_shutdown, worker_ready, worker_shutdown
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


def test_the_worker_main_process_stops_converters_on_shutdown_whatever_the_pool(monkeypatch):
    # solo and threads pools run the converters in the main process, where only worker_shutdown is sent
    assert worker.stop_converters in [r() for _, r in worker_shutdown.receivers]
    assert worker.start_converters_in_this_process in [r() for _, r in worker_ready.receivers]
    calls = []
    monkeypatch.setattr(render, "pool_running", lambda: True)
    monkeypatch.setattr(render, "stop_pool", lambda: calls.append("stop"))
    worker_shutdown.send(sender=None)
    assert calls == ["stop"]


def test_a_forked_child_neither_uses_nor_stops_the_parents_converters(monkeypatch):
    import os

    class ParentsPool:
        running = True

        def stop(self):  # would end the parent's converters from the child
            os._exit(3)

    monkeypatch.setattr(render, "_pool", ParentsPool())
    pid = os.fork()
    if pid == 0:  # a prefork worker child
        try:
            render.stop_pool()
            os._exit(0 if not render.pool_running() else 2)
        finally:
            os._exit(4)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert render.pool_running()  # the parent's pool is untouched
