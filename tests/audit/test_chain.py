"""The audit trail is append-only and any tampering is found."""

from __future__ import annotations

import threading

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction

from accounts.roles import Role
from audit.models import AuditEvent
from audit.services import audit_record, verify_chain
from tests.factories import api_client, make_tenant, make_user

pytestmark = pytest.mark.django_db


def _events(tenant, n=5, user=None):
    return [
        audit_record(tenant=tenant, actor=user, action="create", object_type="case", object_id=str(i), summary=f"e{i}")
        for i in range(n)
    ]


def _tamper(sql, params):
    """Run SQL that the trigger would refuse, as a database superuser could (PostgreSQL:
    replication role, which skips ordinary triggers, as an attacker with DB access would)."""
    with connection.cursor() as cur:
        if connection.vendor == "postgresql":
            cur.execute("SET session_replication_role = replica")
        try:
            cur.execute(sql, params)
        finally:
            if connection.vendor == "postgresql":
                cur.execute("SET session_replication_role = origin")


def test_an_untouched_chain_verifies():
    tenant = make_tenant()
    _events(tenant)
    report = verify_chain()
    assert report.ok and report.checked == 5


def test_an_altered_row_is_named_by_verify_audit(capsys):
    tenant = make_tenant()
    events = _events(tenant)
    _tamper("UPDATE audit_auditevent SET summary = %s WHERE id = %s", ["ritoccato", events[2].pk])
    report = verify_chain()
    assert not report.ok
    assert report.first_broken.pk == events[2].pk
    assert "altered" in report.reason
    with pytest.raises(SystemExit) as exit_info:
        call_command("verify_audit")
    assert exit_info.value.code == 1
    assert f"id={events[2].pk}" in capsys.readouterr().err


def test_a_deleted_row_in_the_middle_is_found():
    tenant = make_tenant()
    events = _events(tenant)
    _tamper("DELETE FROM audit_auditevent WHERE id = %s", [events[1].pk])
    report = verify_chain()
    assert not report.ok and report.first_broken.pk == events[2].pk and "gap" in report.reason


def test_a_deleted_last_row_is_found_through_the_chain_head():
    tenant = make_tenant()
    events = _events(tenant)
    _tamper("DELETE FROM audit_auditevent WHERE id = %s", [events[-1].pk])
    assert not verify_chain().ok


def test_verify_audit_says_ok(capsys):
    _events(make_tenant(), 3)
    call_command("verify_audit")
    assert "OK: 3" in capsys.readouterr().out


@pytest.mark.postgres
@pytest.mark.parametrize("sql", ["UPDATE audit_auditevent SET summary = 'x' WHERE id = %s", "DELETE FROM audit_auditevent WHERE id = %s"])
def test_postgresql_refuses_update_and_delete(sql):
    event = _events(make_tenant(), 1)[0]
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cur:
        cur.execute(sql, [event.pk])
    assert AuditEvent.objects.get(pk=event.pk).summary == "e0"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_appends_keep_one_contiguous_chain():
    tenant = make_tenant()
    barrier = threading.Barrier(4)

    def writer():
        try:
            barrier.wait(timeout=10)
            for i in range(25):
                audit_record(tenant=tenant, actor=None, action="system", object_type="x", object_id=str(i))
        finally:
            connection.close()

    threads = [threading.Thread(target=writer) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    report = verify_chain(tenant=tenant)
    assert report.ok and report.checked == 100


def test_audit_api_for_supervisors_only_and_per_tenant():
    a, b = make_tenant("A"), make_tenant("B")
    sup_a = make_user(a, Role.SUPERVISOR)
    reg_a = make_user(a, Role.REGISTRAR)
    _events(a, 2, user=reg_a)
    _events(b, 3)
    assert api_client(reg_a, a).get("/api/v1/audit/").status_code == 403
    body = api_client(sup_a, a).get("/api/v1/audit/").json()
    assert body["count"] == 2
    assert {e["actor"] for e in body["results"]} == {reg_a.username}
    filtered = api_client(sup_a, a).get("/api/v1/audit/", {"object_id": "1"}).json()
    assert filtered["count"] == 1
    bad = api_client(sup_a, a).get("/api/v1/audit/", {"since": "ieri"})
    assert bad.status_code == 400 and "since" in bad.json()["error"]["fields"]


def test_audit_csv_export_is_itself_audited():
    a = make_tenant()
    sup = make_user(a, Role.SUPERVISOR)
    _events(a, 2)
    response = api_client(sup, a).get("/api/v1/audit/?format=csv")
    assert response.status_code == 200
    lines = b"".join(response.streaming_content).decode().strip().splitlines()
    assert lines[0].startswith("id,seq,created_at")
    # two events plus the export itself, newest first
    assert len(lines) == 4 and ",export," in lines[1]
    assert AuditEvent.objects.filter(tenant=a, action="export").count() == 1
