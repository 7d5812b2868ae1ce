"""Server time of the inbox, the case search and the case page per municipality size, on the data of
bench/scale/generate.py. Each request goes through the whole Django stack in-process (middleware,
session, tenant, selectors, template or serializer; no network): the server's share of a page.

Per size class (small, medium, large) SCALE_MEASURE_TENANTS tenants (3), in each SCALE_MEASURE_USERS
operators (5) of every role; SCALE_MEASURE_REQUESTS requests (60) per endpoint and size. For each
endpoint the slowest SQL statement of one request is kept, with its plan when the endpoint misses
its goal (EXPLAIN ANALYZE), so a miss says why.

    DATABASE_URL=postgres://.../procedo_h9_scale .venv/bin/python bench/scale/measure.py
"""

from __future__ import annotations

import json
import os
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("PROCEDO_ENV", "demo")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

import config.wsgi  # noqa: E402, F401 - as gunicorn loads it (start-up objects frozen for the collector)
from bench.results import percentile  # noqa: E402

TENANTS_PER_SIZE = int(os.environ.get("SCALE_MEASURE_TENANTS", "3"))
USERS_PER_TENANT = int(os.environ.get("SCALE_MEASURE_USERS", "5"))
REQUESTS = int(os.environ.get("SCALE_MEASURE_REQUESTS", "60"))
# Goals (ms, p95 server time). The goal is the inbox query at 20 ms; pages carry a template too.
GOALS = {"inbox query (mine)": 20, "inbox query (available)": 20, "inbox API (mine)": 20, "inbox API (available)": 20, "inbox page": 150, "case search page": 300,
         "case search API": 150, "case page": 300}


def endpoints(case_ids: list[int], fiscal_codes: list[str], numbers: list[str]):
    """name -> a function giving the next URL (random among the tenant's own cases and subjects)."""
    return {
        "inbox API (mine)": lambda: "/api/v1/tasks/?scope=mine&limit=50",
        "inbox API (available)": lambda: "/api/v1/tasks/?scope=available&limit=50",
        "inbox page": lambda: random.choice(["/", "/?tab=available"]),
        "case search page": lambda: random.choice([
            f"/pratiche/?fiscal_code={random.choice(fiscal_codes)}", "/pratiche/?status=open",
            f"/pratiche/?number={random.choice(numbers)}", "/pratiche/"]),
        "case search API": lambda: random.choice([
            f"/api/v1/cases/?fiscal_code={random.choice(fiscal_codes)}&limit=25", "/api/v1/cases/?status=open&limit=25"]),
        "case page": lambda: f"/pratiche/{random.choice(case_ids)}/",
    }


def _sample(tenant_id: int) -> tuple[list[int], list[str], list[str]]:
    with connection.cursor() as cur:
        cur.execute("SELECT id, number FROM cases_case WHERE tenant_id = %s ORDER BY random() LIMIT 200", [tenant_id])
        rows = cur.fetchall()
        cur.execute("SELECT fiscal_code FROM cases_casesubject WHERE tenant_id = %s ORDER BY random() LIMIT 200", [tenant_id])
        codes = [r[0] for r in cur.fetchall()]
    return [r[0] for r in rows], codes, [r[1].split("/")[1].lstrip("0") or "1" for r in rows]


def _clients(tenant_id: int) -> list[dict[str, Client]]:
    from rest_framework.authtoken.models import Token

    from accounts.models import Tenant, User

    tenant = Tenant.objects.get(pk=tenant_id)
    users = list(User.objects.filter(memberships__tenant_id=tenant_id).distinct().order_by("id"))
    # one of each role first (operator 0 is a supervisor too), then others
    picked = users[:1] + random.sample(users[1:], min(len(users) - 1, USERS_PER_TENANT - 1))
    clients = []
    for user in picked:
        # Pages: a browser session. API: a token, as API clients authenticate (no session to renew).
        page = Client(HTTP_X_PROCEDO_TENANT=tenant.istat_code)
        page.force_login(user)
        session = page.session
        session["procedo_tenant_id"] = tenant.pk
        session.save()
        token, _ = Token.objects.get_or_create(user=user)
        api = Client(HTTP_X_PROCEDO_TENANT=tenant.istat_code, HTTP_AUTHORIZATION=f"Token {token.key}")
        clients.append({"page": page, "api": api})
    return clients


_backend_stat: Path | None = None


def _backend_cpu() -> float:
    """CPU seconds used so far by this connection's PostgreSQL backend (/proc schedstat: same host)."""
    global _backend_stat
    if _backend_stat is None:
        with connection.cursor() as cur:
            cur.execute("SELECT pg_backend_pid()")
            _backend_stat = Path(f"/proc/{cur.fetchone()[0]}/schedstat")
    return int(_backend_stat.read_text().split()[0]) / 1e9  # time on a CPU, nanoseconds


def _explain(sql: str) -> str:
    with connection.cursor() as cur:
        cur.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)
        return "\n".join(r[0] for r in cur.fetchall())


def measure() -> dict:
    settings.ALLOWED_HOSTS = ["*"]
    with connection.cursor() as cur:
        cur.execute("""SELECT t.size, t.tenant_id, t.n_cases,
                              (SELECT count(*) FROM cases_workitem w WHERE w.tenant_id = t.tenant_id AND w.status = 'open')
                       FROM bench_scale_tenant t ORDER BY t.size, t.tenant_id""")
        tenants = cur.fetchall()
    by_size: dict[str, list] = {}
    for size, tid, n_cases, n_open in tenants:
        by_size.setdefault(size, []).append((tid, n_cases, n_open))
    results: dict = {"sizes": {}, "slowest": {}}
    for size in ("small", "medium", "large"):
        chosen = random.Random(size).sample(by_size.get(size, []), min(TENANTS_PER_SIZE, len(by_size.get(size, []))))
        if not chosen:
            continue
        timings: dict[str, list[float]] = {}
        cpu: dict[str, list[float]] = {}
        slowest: dict[str, tuple[float, str]] = {}
        setups = []
        for tid, _n, _o in chosen:
            case_ids, codes, numbers = _sample(tid)
            setups.append((_clients(tid), endpoints(case_ids, codes, numbers)))
        for name in [g for g in GOALS if not g.startswith("inbox query")]:
            kind = "api" if " API " in f" {name} " else "page"
            for clients, eps in setups:  # warm-up: first request of each tenant (caches, plans)
                clients[0][kind].get(eps[name]())
            for i in range(REQUESTS):
                clients, eps = setups[i % len(setups)]
                client = random.choice(clients)[kind]
                url = eps[name]()
                t0 = time.perf_counter()
                if i == 0:
                    with CaptureQueriesContext(connection) as ctx:
                        response = client.get(url)
                    reads = [q for q in ctx.captured_queries if q["sql"].lstrip().upper().startswith("SELECT")]
                    worst = max(reads, key=lambda q: float(q["time"]), default=None)
                    if worst:
                        slowest[name] = (float(worst["time"]) * 1000, worst["sql"])
                    elapsed = None
                else:
                    cpu0, pg0 = time.thread_time(), _backend_cpu()
                    t0 = time.perf_counter()
                    response = client.get(url)
                    elapsed = time.perf_counter() - t0
                    cpu.setdefault(name, []).append(time.thread_time() - cpu0 + _backend_cpu() - pg0)
                assert response.status_code == 200, (url, response.status_code, response.content[:300])
                if elapsed is not None:
                    timings.setdefault(name, []).append(elapsed)
        # The inbox query alone: first page of 50 with case and assignee, plus the count, read as the inbox page
        # and the API read them (cases.selectors.InboxRows: the count and the page's ids from the inbox index).
        from accounts.models import Tenant, User
        from cases.selectors import inbox_for_user, inbox_rows

        for scope in ("mine", "available"):
            name = f"inbox query ({scope})"
            for i in range(REQUESTS):
                tid = chosen[i % len(chosen)][0]
                tenant = Tenant.objects.get(pk=tid)
                user = random.choice(list(User.objects.filter(memberships__tenant_id=tid)[:USERS_PER_TENANT]))
                roles_cached = inbox_for_user(tenant=tenant, user=user, scope=scope)  # roles read once, as a request does
                cpu0, pg0 = time.thread_time(), _backend_cpu()
                t0 = time.perf_counter()
                inbox = inbox_rows(tenant=tenant, user=user, scope=scope)
                rows_ = inbox[0:50]
                total = inbox.count()
                timings.setdefault(name, []).append(time.perf_counter() - t0)
                cpu.setdefault(name, []).append(time.thread_time() - cpu0 + _backend_cpu() - pg0)
                assert total >= len(rows_) and roles_cached is not None
        rows = {}
        for name, values in timings.items():
            p95 = percentile(values, 95) * 1000
            cpu95 = percentile(cpu[name], 95) * 1000
            rows[name] = {"p50": percentile(values, 50) * 1000, "p95": p95, "max": max(values) * 1000,
                          "cpu_p50": percentile(cpu[name], 50) * 1000, "cpu_p95": cpu95,
                          "n": len(values), "goal": GOALS[name], "met": p95 < GOALS[name], "met_cpu": cpu95 < GOALS[name]}
            if name in slowest:
                ms, sql = slowest[name]
                entry = {"ms": ms, "sql": sql}
                if not rows[name]["met"]:
                    entry["plan"] = _explain(sql)
                results["slowest"][f"{size}: {name}"] = entry
        results["sizes"][size] = {
            "tenants": len(chosen), "cases": [c[1] for c in chosen], "open_items": [c[2] for c in chosen],
            "endpoints": rows,
        }
    return results


if __name__ == "__main__":
    out = measure()
    for size, row in out["sizes"].items():
        print(size, row["cases"], row["open_items"])
        for name, r in row["endpoints"].items():
            print(f"   {name:24} p50 {r['p50']:6.1f}  p95 {r['p95']:6.1f}  max {r['max']:6.1f}  cpu p50 {r['cpu_p50']:6.1f} p95 {r['cpu_p95']:6.1f}  goal {r['goal']}  wall {'met' if r['met'] else 'MISSED'}, cpu {'met' if r['met_cpu'] else 'MISSED'}")
    for name, entry in out["slowest"].items():
        print(f"{name}: {entry['ms']:.1f} ms  {entry['sql'][:160]}")
    if len(sys.argv) > 1:
        Path(sys.argv[1]).write_text(json.dumps(out, indent=1, default=str))
