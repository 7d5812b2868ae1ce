"""Core operations run in a process whose only database is a PgBouncer in transaction pooling mode
(DATABASE_URL points at it, PROCEDO_DB_POOLER=pgbouncer). Run by test_pgbouncer.py as
`python -m tests.deploy.pgbouncer_ops <tenant_id> <user_id> <cases per thread> <threads>`.

Several threads share a pool smaller than their number, so consecutive transactions of one Django
connection land on different server sessions: anything left on a session (a prepared statement,
a cursor, a SET, an advisory lock) would fail or leak here."""

from __future__ import annotations

import json
import sys
import threading

import django


def main() -> None:
    django.setup()
    from django.conf import settings
    from django.db import connection, connections

    from accounts.models import Tenant, User
    from audit.models import AuditEvent
    from audit.services import verify_chain
    from cases.models import WorkItem
    from cases.services import case_start, work_item_claim, work_item_complete

    tenant_id, user_id, per_thread, threads = (int(a) for a in sys.argv[1:5])
    errors: list[str] = []
    started: list[int] = []

    def work() -> None:
        try:
            tenant = Tenant.objects.get(pk=tenant_id)
            user = User.objects.get(pk=user_id)
            for _ in range(per_thread):
                case = case_start(tenant=tenant, user=user, process_id="three_tasks", data={})
                started.append(case.pk)
                for step in ("first", "second"):
                    item = WorkItem.objects.get(case=case, bpmn_id=step, status="open")
                    work_item_claim(work_item_id=item.pk, tenant=tenant, user=user)
                    work_item_complete(work_item_id=item.pk, tenant=tenant, user=user, data={"ok": True})
                # The audit export path while the others write: a long read with .iterator() outside
                # any transaction (a server-side cursor would be fetched on another server session).
                read = sum(1 for _ in AuditEvent.objects.order_by("pk").iterator(chunk_size=3))
                assert read > 0
        except Exception as exc:  # reported to the test, which fails with it
            errors.append(f"{type(exc).__name__}: {exc}")
        finally:
            connections.close_all()

    pool = [threading.Thread(target=work) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    events = sum(1 for _ in AuditEvent.objects.order_by("pk").iterator(chunk_size=7))
    report = verify_chain()
    options = connection.settings_dict["OPTIONS"]
    print(json.dumps({
        "errors": errors, "cases": len(started), "events": events, "audit_ok": report.ok,
        "audit_checked": report.checked, "prepare_threshold": options.get("prepare_threshold", "unset"),
        "server_side_binding": options.get("server_side_binding"),
        "server_side_cursors_disabled": connection.settings_dict.get("DISABLE_SERVER_SIDE_CURSORS"),
        "pooler": settings.PROCEDO_DB_POOLER,
    }))


if __name__ == "__main__":
    main()
