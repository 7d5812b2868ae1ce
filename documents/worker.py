"""Celery worker hooks: each worker process keeps warm LibreOffice converters (unoserver), so the
first deed a worker renders does not pay LibreOffice's start-up (over a second).

`PROCEDO_CONVERTERS_PER_WORKER` (default 1) converters per worker process; 0 turns it off (the
converter then starts cold for each document, as in a plain `manage.py` process).
"""

from __future__ import annotations

import logging

from celery.signals import worker_process_init, worker_process_shutdown

from config.env import env_int

logger = logging.getLogger(__name__)


def converters_per_worker() -> int:
    return max(0, env_int("PROCEDO_CONVERTERS_PER_WORKER", 1))


@worker_process_init.connect
def start_converters(**_kwargs) -> None:
    size = converters_per_worker()
    if not size:
        return
    from . import render

    try:
        render.start_pool(size)
    except Exception:  # a worker without LibreOffice still runs every other task
        logger.exception("could not start the LibreOffice converters in this worker; documents will start it cold")


@worker_process_shutdown.connect
def stop_converters(**_kwargs) -> None:
    from . import render

    if render.pool_running():
        render.stop_pool()
