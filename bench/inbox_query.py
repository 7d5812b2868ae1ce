"""Inbox query time with 1,000,000 work items and 200,000 cases in one tenant.

Rows are generated in PostgreSQL with generate_series (a minute or two), then the two
inbox queries of the API (`mine`, `available`: first page of 50 plus the count) run for
random users. Needs PostgreSQL: DATABASE_URL=postgres://.../procedo_bench.
"""

from __future__ import annotations

import os
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("PROCEDO_ENV", "demo")  # benchmarks run on demo secrets, never in production

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402

from bench.results import percentile, write_section  # noqa: E402

CASES = int(os.environ.get("BENCH_INBOX_CASES", "200000"))
ITEMS = int(os.environ.get("BENCH_INBOX_ITEMS", "1000000"))
USERS = 25
ROLES = ["registrar", "police", "civil_registrar", "supervisor"]


def generate() -> tuple[object, list]:
    from accounts.models import Membership, Tenant, User
    from engine.bundles import read_bundle
    from engine.models import ProcessVersion
    from engine.registry import process_version_publish

    tenant, _ = Tenant.objects.get_or_create(
        slug="bench-inbox", defaults={"name": "Comune Grande", "istat_code": "999002", "belfiore_code": "Z998"}
    )
    process_version_publish(bundle=read_bundle(Path(__file__).parent / "three_tasks"))
    version = ProcessVersion.objects.get(definition__process_id="three_tasks", version=1)
    users = []
    for i in range(USERS):
        user, _ = User.objects.get_or_create(username=f"bench.inbox.{i}")
        Membership.objects.get_or_create(user=user, tenant=tenant, role=ROLES[i % len(ROLES)])
        users.append(user)
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM cases_workitem WHERE tenant_id = %s", [tenant.pk])
        if cur.fetchone()[0] >= ITEMS:
            return tenant, users
        print(f"generating {CASES} cases and {ITEMS} work items ...", flush=True)
        cur.execute(
            """
            INSERT INTO cases_case (tenant_id, number, process_id, process_version_id, title, status,
                business_key, subjects, data, outcome, has_open_incident, opened_at, updated_at, legal_due_date)
            SELECT %s, '2026/' || lpad(g::text, 7, '0'), 'three_tasks', %s, 'Bench', 
                   CASE WHEN g %% 5 = 0 THEN 'open' ELSE 'closed' END, '', '[]'::jsonb, '{}'::jsonb, '', false,
                   now() - (g || ' minutes')::interval, now(), current_date + (g %% 60)
            FROM generate_series(1, %s) g
            """,
            [tenant.pk, version.pk, CASES],
        )
        cur.execute("SELECT min(id) FROM cases_case WHERE tenant_id = %s", [tenant.pk])
        first_case = cur.fetchone()[0]
        user_ids = [u.pk for u in users]
        # 5 items per case; about 20% open, half of those assigned to someone.
        cur.execute(
            """
            INSERT INTO cases_workitem (tenant_id, case_id, task_id, bpmn_id, name, role, form, ui_form,
                instructions, status, assignee_id, restricted_to_candidates, excluded_username, due_at,
                priority, created_at)
            SELECT %s, %s + (g %% %s), md5(g::text), 'first', 'Primo', (ARRAY['registrar','police','civil_registrar','supervisor'])[1 + g %% 4],
                   'step.schema.json', '', '',
                   CASE WHEN g %% 5 = 0 THEN 'open' ELSE 'completed' END,
                   CASE WHEN g %% 10 = 0 THEN (%s::bigint[])[1 + (g / 10) %% %s] ELSE NULL END,
                   false, '', current_date + (g %% 90) - 30, 1 + g %% 3, now()
            FROM generate_series(1, %s) g
            """,
            [tenant.pk, first_case, CASES, user_ids, len(user_ids), ITEMS],
        )
        cur.execute("VACUUM ANALYZE cases_workitem")
        cur.execute("VACUUM ANALYZE cases_case")
    return tenant, users


def main() -> None:
    from cases.selectors import inbox_for_user

    tenant, users = generate()
    timings: dict[str, list[float]] = {"mine": [], "available": []}
    for _ in range(5):  # warm-up
        list(inbox_for_user(tenant=tenant, user=users[0], scope="available")[:50])
    for _ in range(200):
        user = random.choice(users)
        user.__dict__.pop("_procedo_roles", None)
        for scope in timings:
            t0 = time.perf_counter()
            qs = inbox_for_user(tenant=tenant, user=user, scope=scope)
            rows = list(qs[:50])
            total = qs.count()
            timings[scope].append(time.perf_counter() - t0)
            assert len(rows) <= 50 and total >= len(rows)
    with connection.cursor() as cur:
        cur.execute("SELECT count(*), count(*) FILTER (WHERE status = 'open') FROM cases_workitem WHERE tenant_id = %s", [tenant.pk])
        n_items, n_open = cur.fetchone()
        cur.execute("SELECT count(*) FROM cases_case WHERE tenant_id = %s", [tenant.pk])
        n_cases = cur.fetchone()[0]
    rows = "\n".join(
        f"| {scope} | {percentile(t, 50) * 1000:.1f} | {percentile(t, 95) * 1000:.1f} | {max(t) * 1000:.1f} |"
        for scope, t in timings.items()
    )
    body = f"""
Command: `make bench` (or `DATABASE_URL=... .venv/bin/python bench/inbox_query.py`). One tenant with
{n_cases:,} cases and {n_items:,} work items ({n_open:,} open), {USERS} users over 4 roles; each query is
the API's inbox: first page of 50 rows (with case and assignee joined) plus the total count.

| scope | p50 ms | p95 ms | max ms |
|---|---|---|---|
{rows}

Target: p95 under 50 ms.
"""
    write_section("Inbox query, 1M work items", body)


if __name__ == "__main__":
    main()
