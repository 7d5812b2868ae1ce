"""Inbox page server time with 10,000 open work items in one tenant (issue 3's target: < 150 ms).

The whole Django request is timed in-process (middleware, session, tenant resolution, the inbox
selectors with counts, pagination, template rendering), for both tabs, a page deep in the list,
the htmx partial and a filtered view. No network and no browser: this is the server's share.
Rows are generated in PostgreSQL with generate_series.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/procedo_bench python bench/inbox_page.py
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("PROCEDO_ENV", "demo")  # benchmarks run on demo secrets, never in production

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402

from bench.results import percentile, write_section  # noqa: E402

OPEN_ITEMS = int(os.environ.get("BENCH_PAGE_ITEMS", "10000"))
REQUESTS = int(os.environ.get("BENCH_PAGE_REQUESTS", "100"))


def generate():
    from accounts.models import Membership, Tenant, User
    from engine.bundles import read_bundle
    from engine.models import ProcessVersion
    from engine.registry import process_version_publish

    tenant, _ = Tenant.objects.get_or_create(
        slug="bench-page", defaults={"name": "Comune Medio", "istat_code": "999004", "belfiore_code": "Z996"}
    )
    process_version_publish(bundle=read_bundle(Path(__file__).parent / "three_tasks"))
    version = ProcessVersion.objects.get(definition__process_id="three_tasks", version=1)
    user, _ = User.objects.get_or_create(username="bench.page.registrar")
    Membership.objects.get_or_create(user=user, tenant=tenant, role="registrar")
    colleagues = []
    for i in range(20):
        colleague, _ = User.objects.get_or_create(username=f"bench.page.{i}")
        Membership.objects.get_or_create(user=colleague, tenant=tenant, role="registrar")
        colleagues.append(colleague.pk)
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM cases_workitem WHERE tenant_id = %s AND status = 'open'", [tenant.pk])
        if cur.fetchone()[0] >= OPEN_ITEMS:
            return tenant, user
        cur.execute(
            """
            INSERT INTO cases_case (tenant_id, number, process_id, process_version_id, title, status,
                business_key, subjects, data, outcome, has_open_incident, opened_at, updated_at, legal_due_date)
            SELECT %s, '2026/' || lpad(g::text, 6, '0'), 'three_tasks', %s, 'Tre passi', 'open', '',
                   jsonb_build_array(jsonb_build_object('fiscal_code', 'RSSMRA80A01H501U', 'given_name', 'Mario',
                                                        'family_name', 'Rossi ' || g)),
                   '{}'::jsonb, '', false, now() - (g || ' minutes')::interval, now(), current_date + (g %% 60)
            FROM generate_series(1, %s) g
            """,
            [tenant.pk, version.pk, OPEN_ITEMS],
        )
        cur.execute("SELECT min(id) FROM cases_case WHERE tenant_id = %s", [tenant.pk])
        first_case = cur.fetchone()[0]
        # One open task per case; one in 20 assigned to the measured user, the rest to colleagues or nobody.
        cur.execute(
            """
            INSERT INTO cases_workitem (tenant_id, case_id, task_id, bpmn_id, name, role, form, ui_form,
                instructions, status, assignee_id, restricted_to_candidates, excluded_username, due_at,
                priority, created_at)
            SELECT %s, %s + g - 1, md5(g::text), 'first', 'Primo passo', 'registrar', 'step.schema.json', '', '',
                   'open',
                   CASE WHEN g %% 20 = 0 THEN %s WHEN g %% 3 = 0 THEN (%s::bigint[])[1 + g %% 20] ELSE NULL END,
                   false, '', current_date + (g %% 90) - 30, 1 + g %% 3, now()
            FROM generate_series(1, %s) g
            """,
            [tenant.pk, first_case, user.pk, colleagues, OPEN_ITEMS],
        )
        cur.execute(
            "INSERT INTO cases_casesubject (tenant_id, case_id, fiscal_code) "
            "SELECT tenant_id, id, 'RSSMRA80A01H501U' FROM cases_case WHERE tenant_id = %s",
            [tenant.pk],
        )
        cur.execute("ANALYZE cases_workitem")
        cur.execute("ANALYZE cases_case")
    return tenant, user


def main() -> None:
    settings.ALLOWED_HOSTS = ["*"]
    tenant, user = generate()
    client = Client()
    client.force_login(user)
    session = client.session
    session["procedo_tenant_id"] = tenant.pk  # accounts.tenancy.SESSION_KEY (the user has one tenant anyway)
    session.save()
    views = {
        "mine (first page)": "/",
        "available (first page)": "/?tab=available",
        "available, page 200": "/?tab=available&page=200",
        "available, htmx partial": "/?tab=available",
        "available, filtered by subject": "/?tab=available&subject=RSSMRA80A01H501U",
    }
    timings: dict[str, list[float]] = {name: [] for name in views}
    for name, url in views.items():
        headers = {"HX-Request": "true"} if "htmx" in name else {}
        response = client.get(url, headers=headers)
        assert response.status_code == 200, (url, response.status_code)
        for _ in range(REQUESTS):
            t0 = time.perf_counter()
            response = client.get(url, headers=headers)
            timings[name].append(time.perf_counter() - t0)
            assert response.status_code == 200
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM cases_workitem WHERE tenant_id = %s AND status = 'open'", [tenant.pk])
        n_open = cur.fetchone()[0]
    rows = "\n".join(
        f"| {name} | {percentile(t, 50) * 1000:.1f} | {percentile(t, 95) * 1000:.1f} | {max(t) * 1000:.1f} |"
        for name, t in timings.items()
    )
    body = f"""
Command: `make bench` (or `DATABASE_URL=... .venv/bin/python bench/inbox_page.py`). One tenant with
{n_open:,} open work items (one per case), a registrar with 1 in 20 assigned; {REQUESTS} requests per row,
timed in-process from request to rendered HTML (middleware, session, both tab counts, page of 25, template).

| view | p50 ms | p95 ms | max ms |
|---|---|---|---|
{rows}

Target: under 150 ms server time.
"""
    write_section("Inbox page, 10,000 open work items", body)


if __name__ == "__main__":
    main()
