"""Celery worker hooks: each worker process keeps warm LibreOffice converters (unoserver), so the
first deed a worker renders does not pay LibreOffice's start-up (over a second).

`PROCEDO_CONVERTERS_PER_WORKER` (default 1) converters per worker process; 0 turns it off (the
converter then starts cold for each document, as in a plain `manage.py` process).

The converters start in a background thread: Celery gives a new prefork child only a few seconds
(worker_proc_alive_timeout) to report itself up, and LibreOffice may need more.

The converters belong to the process that runs the tasks, and stop with it, however it stops:
- prefork child, normal exit (warm shutdown, max-tasks-per-child): worker_process_shutdown;
- prefork child sent SIGTERM (cold shutdown, a revoked task terminated): the handler installed
  below, since Celery resets a child's SIGTERM to "die at once";
- solo pool (worker_process_init is sent in the main process) and threads pool (started on
  worker_ready): worker_shutdown on warm or cold shutdown (SIGTERM, SIGINT, SIGQUIT);
- any other exit of the interpreter: render's atexit hook;
- SIGKILL, or any death the process cannot see: each converter's guard notices its owner is gone
  and ends LibreOffice (documents/converter_guard.py).
"""

from __future__ import annotations

import logging
import os
import signal
import threading

from celery.signals import worker_process_init, worker_process_shutdown, worker_ready, worker_shutdown
from django.conf import settings

logger = logging.getLogger(__name__)


def converters_per_worker() -> int:
    return max(0, int(settings.PROCEDO_CONVERTERS_PER_WORKER))


_warming: threading.Thread | None = None
_warming_pid: int | None = None


def _start(size: int) -> None:
    from . import render

    try:
        render.start_pool(size)
    except Exception:  # a worker without LibreOffice still runs every other task
        logger.exception("could not start the LibreOffice converters in this worker; documents will start it cold")


def _start_in_background(size: int) -> threading.Thread:
    global _warming, _warming_pid
    _warming = threading.Thread(target=_start, args=(size,), name="converters-start", daemon=True)
    _warming_pid = os.getpid()
    _warming.start()
    return _warming


def _stop_then_die(signum, frame) -> None:  # noqa: ARG001
    """SIGTERM in a prefork child: stop the converters, then die of the signal as Celery expects."""
    try:
        stop_converters()
    finally:
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)


@worker_process_init.connect
def start_converters(**_kwargs) -> threading.Thread | None:
    size = converters_per_worker()
    if not size:
        return None
    thread = _start_in_background(size)
    if _in_prefork_child() and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _stop_then_die)
    return thread


@worker_ready.connect
def start_converters_in_this_process(sender=None, **_kwargs) -> threading.Thread | None:
    """Pools that run tasks in the worker's own process and send no worker_process_init (threads)."""
    pool = getattr(sender, "pool", None)
    if pool is None or _tasks_run_in_children(pool) or _warming_pid == os.getpid():
        return None
    size = converters_per_worker()
    return _start_in_background(size) if size else None


@worker_process_shutdown.connect
@worker_shutdown.connect
def stop_converters(**_kwargs) -> None:
    from . import render

    if _warming is not None and _warming_pid == os.getpid() and _warming is not threading.current_thread():
        _warming.join(timeout=120)  # a start in progress would otherwise finish after the stop
    if render.pool_running():
        render.stop_pool()


def _tasks_run_in_children(pool) -> bool:  # type: ignore[no-untyped-def]
    from celery.concurrency.prefork import TaskPool as PreforkPool

    return isinstance(pool, PreforkPool)


def _in_prefork_child() -> bool:
    from billiard.process import current_process

    return current_process().name != "MainProcess"
