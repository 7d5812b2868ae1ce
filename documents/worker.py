"""Celery worker hooks: each worker process keeps warm LibreOffice converters (unoserver), so the
first deed a worker renders does not pay LibreOffice's start-up (over a second).

`PROCEDO_CONVERTERS_PER_WORKER` (default 1) converters per worker process; 0 turns it off (the
converter then starts cold for each document, as in a plain `manage.py` process).

The converters start in a background thread: Celery gives a new prefork child only a few seconds
(worker_proc_alive_timeout) to report itself up, and LibreOffice may need more.
"""

from __future__ import annotations

import logging
import threading

from celery.signals import worker_process_init, worker_process_shutdown
from django.conf import settings

logger = logging.getLogger(__name__)


def converters_per_worker() -> int:
    return max(0, int(settings.PROCEDO_CONVERTERS_PER_WORKER))


_warming: threading.Thread | None = None


def _start(size: int) -> None:
    from . import render

    try:
        render.start_pool(size)
    except Exception:  # a worker without LibreOffice still runs every other task
        logger.exception("could not start the LibreOffice converters in this worker; documents will start it cold")


@worker_process_init.connect
def start_converters(**_kwargs) -> threading.Thread | None:
    global _warming
    size = converters_per_worker()
    if not size:
        return None
    _warming = threading.Thread(target=_start, args=(size,), name="converters-start", daemon=True)
    _warming.start()
    return _warming


@worker_process_shutdown.connect
def stop_converters(**_kwargs) -> None:
    from . import render

    if _warming is not None:
        _warming.join(timeout=30)
    if render.pool_running():
        render.stop_pool()
