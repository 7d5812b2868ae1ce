"""Celery tasks of the studio (the worker imports this module to register them)."""

from studio.scenarios import scenario_run_task  # noqa: F401
