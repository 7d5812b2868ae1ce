"""Shared fixtures. Tests needing PostgreSQL are marked `postgres`; `make test` always
runs on PostgreSQL, so they are skipped only in the quick SQLite loop."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

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
def _fiscal_code_table_built():
    """The web process builds the fiscal codes' birthplace table at start-up (config/wsgi.py); the tests
    run without wsgi, so they build it here: otherwise the first request that checks a code takes ~2 s
    inside a test, and hypothesis' stateful API fuzz replays it as flaky."""
    from common import fiscal_code

    fiscal_code.warm()


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


# --------------------------------------------------------------------------- offices, processes, declarations
# These fixtures ask for no database fixture themselves: the test's own `django_db` mark (plain or
# transactional) decides how rows are cleaned up, so they serve both kinds of test.

# The staff of an office. No citizen by default: the standard citizen's fiscal code is the standard
# declarant's, and staff tests create users with it (one fiscal code per person in a tenant).
STANDARD_PEOPLE: Mapping[str, str] = {
    "registrar": "registrar", "supervisor": "supervisor", "admin": "process_admin",
    "viewer": "viewer", "police": "police",
}


@pytest.fixture
def make_office() -> Callable[..., dict[str, Any]]:
    """Build a municipality's office: `make_office(colleague=Role.REGISTRAR, cases=[payload, ...])`.

    Returns a dict with "tenant", one user per person (key → role; STANDARD_PEOPLE unless `people`
    is given, plus every extra keyword), and, when `cases` is given, "cases" opened by the registrar
    through the real service with "case" the first of them. A person called "citizen"
    (`make_office(citizen=Role.CITIZEN)`) has the standard declarant's fiscal code unless
    `fiscal_codes` says otherwise. `processes` publishes processes/*/."""
    from tests.factories import MARIO_CF, CaseFactory, make_tenant, make_user, sync_processes

    def make(*, name: str = "Comune di Capannori", istat: str | None = "046007", belfiore: str | None = "B648",
             patron: tuple[int, int] | None = None, people: Mapping[str, str] | None = None,
             usernames: Mapping[str, str] | None = None, fiscal_codes: Mapping[str, str] | None = None,
             cases: Sequence[dict] = (), processes: bool = True, **extra_people: str) -> dict[str, Any]:
        if processes or cases:
            sync_processes()
        tenant = make_tenant(name, istat=istat, belfiore=belfiore, patron=patron)
        codes = {"citizen": MARIO_CF, **(fiscal_codes or {})}
        office: dict[str, Any] = {"tenant": tenant}
        for key, role in {**(STANDARD_PEOPLE if people is None else people), **extra_people}.items():
            office[key] = make_user(tenant, role, username=(usernames or {}).get(key),
                                    fiscal_code=codes.get(key, ""))
        if cases:
            office["cases"] = [CaseFactory(tenant=tenant, user=office["registrar"], data=data) for data in cases]
            office["case"] = office["cases"][0]
        return office

    return make


@pytest.fixture
def office(make_office) -> dict[str, Any]:
    """Comune di Capannori (ISTAT 046007, Belfiore B648) with the shipped procedures published and
    one person per staff role: registrar, supervisor, admin (process admin), viewer, police."""
    return make_office()


@pytest.fixture
def other_office(make_office) -> dict[str, Any]:
    """Comune di Lucca (ISTAT 046017), a second tenant with the same staff."""
    return make_office(name="Comune di Lucca", istat="046017", belfiore="E715")


@pytest.fixture
def processes() -> None:
    """The shipped procedures of processes/*/, published."""
    from tests.factories import sync_processes

    sync_processes()


@pytest.fixture
def residence_version(processes):
    """The published version of the change-of-residence procedure."""
    from engine.selectors import process_latest_version

    return process_latest_version(process_id="residence_change")


@pytest.fixture
def declaration() -> dict[str, Any]:
    """A fresh residence-change declaration (tests.factories.declaration_payload)."""
    from tests.factories import declaration_payload

    return declaration_payload()
