"""Helpers for connector tests: a simulator on an ephemeral port wired into the config."""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterator

from django.conf import settings as django_settings

from common.operations import OperationContext
from connectors.base.simulator import SimulatorServer

_keys = itertools.count(1)


@contextlib.contextmanager
def running(app, monkeypatch, platform: str) -> Iterator[SimulatorServer]:
    with SimulatorServer(app) as server:
        monkeypatch.setattr(django_settings, f"PROCEDO_{platform.upper()}_BASE_URL", server.url)
        monkeypatch.setattr(django_settings, f"PROCEDO_{platform.upper()}_TIMEOUT", "2")
        yield server


def ctx_for(tenant, *, key: str | None = None, case_id: int | None = None, case_number: str | None = None,
            attempt: int = 1) -> OperationContext:
    return OperationContext(
        tenant_id=tenant.pk, tenant_istat=tenant.istat_code, idempotency_key=key or f"test-key-{next(_keys)}",
        case_id=case_id, case_number=case_number, attempt=attempt,
    )
