"""Routing without a replica configured (the default everywhere, the demo included)."""

from __future__ import annotations

from django.db import connections

from cases.models import Case
from config import db_router


def test_without_a_replica_everything_reads_and_migrates_on_the_primary():
    assert db_router.REPLICA not in connections.databases
    router = db_router.ReplicaRouter()
    with db_router.request_scope(), db_router.replica_reads():
        assert router.db_for_read(Case) == "default"
    assert router.allow_migrate("default", "cases") is True
    assert router.allow_migrate("replica", "cases") is False
