"""Citizen area pages: server time with 100,000 cases in the tenant (issue 14's target: p95 < 200 ms).

One tenant holds 100,000 residence-change cases of other people (bulk-inserted with generate_series:
cases, their subject rows), and the measured citizen has 5 real cases opened through the services
(workflow state, milestones, documents) plus 30 bulk ones, so the list pages. Each page is timed
in-process from request to rendered HTML (middleware, session, tenant, selectors, template).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/procedo_bench python bench/portal.py
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
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402

from bench.results import percentile, write_section  # noqa: E402

CASES = int(os.environ.get("BENCH_PORTAL_CASES", "100000"))
REQUESTS = int(os.environ.get("BENCH_PORTAL_REQUESTS", "100"))
CF = "PRVGNN90R10H501Q"


def generate():
    from accounts.models import Membership, Tenant, User
    from cases.models import Case
    from cases.services import case_start
    from engine.selectors import process_latest_version

    call_command("sync_processes", verbosity=0)
    tenant, _ = Tenant.objects.get_or_create(
        slug="bench-portal", defaults={"name": "Comune Grande", "istat_code": "046007", "belfiore_code": "B648"})
    citizen, _ = User.objects.get_or_create(username=f"cf:{CF}", defaults={"fiscal_code": CF, "first_name": "Giovanni",
                                                                            "last_name": "Prova"})
    Membership.objects.get_or_create(user=citizen, tenant=tenant, role="citizen")
    version = process_latest_version(process_id="residence_change")
    if Case.objects.filter(tenant=tenant, created_by=citizen).count() < 5:
        for i in range(5):
            case_start(tenant=tenant, user=citizen, process_id="residence_change", channel="portal", data={
                "declarants": [{"fiscal_code": CF, "given_name": "Giovanni", "family_name": "Prova"}],
                "new_address": {"street": "Via Roma", "house_number": str(i + 1), "municipality_istat": "046007"},
                "declaration_date": "2026-11-20"})
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM cases_case WHERE tenant_id = %s", [tenant.pk])
        if cur.fetchone()[0] < CASES:
            cur.execute(
                """
                INSERT INTO cases_case (tenant_id, number, process_id, process_version_id, title, status,
                    business_key, subjects, data, outcome, has_open_incident, opened_at, updated_at, legal_due_date)
                SELECT %s, '2025/' || lpad(g::text, 6, '0'), 'residence_change', %s, 'Cambio di residenza',
                       CASE WHEN g %% 4 = 0 THEN 'closed' ELSE 'open' END, '',
                       jsonb_build_array(jsonb_build_object('fiscal_code', 'BNC' || lpad(g::text, 13, '0'),
                                                            'given_name', 'Anna', 'family_name', 'Bianchi ' || g)),
                       '{}'::jsonb, '', false, now() - (g || ' minutes')::interval, now(), current_date + (g %% 45)
                FROM generate_series(1, %s) g
                """, [tenant.pk, version.pk, CASES])
            cur.execute(
                """
                INSERT INTO cases_casesubject (tenant_id, case_id, fiscal_code)
                SELECT tenant_id, id, CASE WHEN id %% 3333 = 0 THEN %s ELSE subjects->0->>'fiscal_code' END
                FROM cases_case WHERE tenant_id = %s AND number LIKE '2025/%%'
                """, [CF, tenant.pk])
            cur.execute("ANALYZE cases_case")
            cur.execute("ANALYZE cases_casesubject")
    return tenant, citizen


def main() -> None:
    from cases.models import Case, CaseSubject
    from identity.services import SESSION_LOA

    settings.ALLOWED_HOSTS = ["*"]
    tenant, citizen = generate()
    client = Client()
    client.force_login(citizen)
    session = client.session
    session["procedo_tenant_id"] = tenant.pk
    session[SESSION_LOA] = "SpidL2"
    session.save()
    own = Case.objects.filter(tenant=tenant, created_by=citizen).order_by("pk").first()
    pages = {
        "home": "/area-personale/",
        "my cases (list)": "/area-personale/pratiche/",
        "my cases, page 2": "/area-personale/pratiche/?page=2",
        "one case (timeline, documents, replies)": f"/area-personale/pratiche/{own.pk}/",
        "service catalogue": "/area-personale/servizi/",
        "request form, step 1": "/area-personale/servizi/residence_change/domanda/",
        "payments": "/area-personale/pagamenti/",
        "documents": "/area-personale/documenti/",
        "certificates": "/area-personale/certificati/",
        "notification preferences": "/area-personale/preferenze/",
        "another person's case (404)": f"/area-personale/pratiche/{Case.objects.filter(tenant=tenant).exclude(subject_rows__fiscal_code=CF).order_by('-pk').values_list('pk', flat=True).first()}/",
    }
    timings: dict[str, list[float]] = {name: [] for name in pages}
    for name, url in pages.items():
        expected = 404 if "404" in name else 200
        response = client.get(url)
        assert response.status_code == expected, (url, response.status_code)
        for _ in range(REQUESTS):
            t0 = time.perf_counter()
            response = client.get(url)
            timings[name].append(time.perf_counter() - t0)
            assert response.status_code == expected
    n_cases = Case.objects.filter(tenant=tenant).count()
    mine = CaseSubject.objects.filter(tenant=tenant, fiscal_code=CF).count()
    rows = "\n".join(
        f"| {name} | {percentile(t, 50) * 1000:.1f} | {percentile(t, 95) * 1000:.1f} | {max(t) * 1000:.1f} |"
        for name, t in timings.items())
    worst = max(percentile(t, 95) for t in timings.values()) * 1000
    body = f"""
Command: `DATABASE_URL=... .venv/bin/python bench/portal.py`. One tenant with {n_cases:,} cases (bulk-inserted),
the citizen a subject of {mine} of them (5 opened through the services, with workflow state); {REQUESTS}
requests per page, timed in-process from request to rendered HTML, PostgreSQL on the same 2-core machine.

| page | p50 ms | p95 ms | max ms |
|---|---|---|---|
{rows}

Target: p95 under 200 ms server time. Worst p95: **{worst:.1f} ms**.
"""
    write_section("Citizen area pages, 100,000 cases", body)


if __name__ == "__main__":
    main()
