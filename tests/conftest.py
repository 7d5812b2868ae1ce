"""Shared fixtures. Tests needing PostgreSQL are marked `postgres`; `make test` always
runs on PostgreSQL, so they are skipped only in the quick SQLite loop."""

from __future__ import annotations

import os

import pytest
from django.db import connection

from common import clock


def pytest_configure(config):
    # The English catalog is compiled by `make`; compile it here too when pytest runs alone.
    from pathlib import Path

    po = Path(__file__).resolve().parent.parent / "locale" / "en" / "LC_MESSAGES" / "django.po"
    mo = po.with_suffix(".mo")
    if po.exists() and (not mo.exists() or mo.stat().st_mtime < po.stat().st_mtime):
        import shutil
        import subprocess

        if shutil.which("msgfmt"):
            subprocess.run(["msgfmt", "-o", str(mo), str(po)], check=True)


def pytest_collection_modifyitems(config, items):
    from django.conf import settings

    if settings.DATABASES["default"]["ENGINE"].endswith("postgresql"):
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL: run `make test`")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session", autouse=True)
def _flush_in_replica_mode():
    """PostgreSQL refuses TRUNCATE of the audit tables (audit migration 0004); the flush that ends a
    transactional test truncates every table, so it runs in replica mode, which skips triggers
    (the tests connect as a superuser; the product's own code never does this)."""
    from django.db import transaction
    from django.db.backends.postgresql.operations import DatabaseOperations

    original = DatabaseOperations.execute_sql_flush

    def execute_sql_flush(self, sql_list):
        with transaction.atomic(using=self.connection.alias):
            with self.connection.cursor() as cursor:
                cursor.execute("SET LOCAL session_replication_role = replica")
            original(self, sql_list)

    DatabaseOperations.execute_sql_flush = execute_sql_flush
    yield
    DatabaseOperations.execute_sql_flush = original


@pytest.fixture(scope="session", autouse=True)
def _no_converter_outlives_the_session():
    """Whatever a test started, the session ends with no LibreOffice converter left under it."""
    yield
    from documents import render
    from tests.documents import procs

    render.stop_pool()
    left = [p for p in procs.descendants(os.getpid()) if p.is_converter]
    assert not left, f"converters left by the test session: {procs.describe(left)}"


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    # Production hashing costs ~0.25 s per user; tests create many users.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.PROCEDO_OUTBOX_DISPATCH = "none"  # tests deliver the outbox explicitly


@pytest.fixture(autouse=True)
def _fresh_version_cache():
    # Process versions are cached by primary key; SQLite can reuse a key after a rollback.
    from engine.bundles import forget_cached_versions

    forget_cached_versions()


@pytest.fixture(autouse=True)
def _reset_clock():
    clock.reset()
    yield
    clock.reset()


@pytest.fixture
def is_postgres() -> bool:
    return connection.vendor == "postgresql"


@pytest.fixture(autouse=True)
def _reference_data(request):
    """Reference tables filled by data migrations (ANPR's municipalities) are emptied by the flush
    that ends every transactional test; put them back for the transactional tests that follow."""
    marker = request.node.get_closest_marker("django_db")
    transactional = "transactional_db" in request.fixturenames or "live_server" in request.fixturenames or (
        marker is not None and marker.kwargs.get("transaction"))
    if transactional:
        from forms.models import Municipality

        if not Municipality.objects.exists():
            from forms.municipalities import archive_path, load_archive

            load_archive(Municipality, archive_path())
    yield


@pytest.fixture(autouse=True)
def _italian():
    """Each test starts in Italian: a request in English activates it for the whole thread, and code
    called outside a request (services, tasks) would otherwise speak the previous test's language."""
    from django.utils import translation

    translation.activate("it")
    yield
    translation.deactivate()
