"""Where a whole inbox API request spends its time (issue 16: inbox p95 < 20 ms), on the data of
bench/scale/generate.py: the largest municipality, its operators with a token each, GET
/api/v1/tasks/?scope=mine|available&limit=50 through the whole Django stack in-process (as measure.py).

Per request: wall time, CPU (this thread + the PostgreSQL backend, and each apart), time inside SQL (execute_wrapper),
and the garbage collections that ran during it (gc.callbacks: generation, milliseconds). With
INBOX_PROFILE=1 one cProfile over all requests, top functions by cumulative time.

    DATABASE_URL=postgres://.../procedo_h8_scale PROCEDO_ENV=demo .venv/bin/python bench/scale/inbox_profile.py [out.json]
Knobs: INBOX_REQUESTS (300 per scope), INBOX_USERS (8).
"""

from __future__ import annotations

import cProfile
import gc
import io
import json
import os
import pstats
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

import config.wsgi  # noqa: E402, F401 - as gunicorn loads it (start-up objects frozen for the collector)
from bench.results import percentile  # noqa: E402
from bench.scale.measure import _backend_cpu  # noqa: E402

REQUESTS = int(os.environ.get("INBOX_REQUESTS", "300"))
USERS = int(os.environ.get("INBOX_USERS", "8"))


class GcWatch:
    def __init__(self) -> None:
        self.events: list[tuple[int, float]] = []
        self._t0 = 0.0

    def __call__(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._t0 = time.perf_counter()
        else:
            self.events.append((info["generation"], (time.perf_counter() - self._t0) * 1000))


def main() -> dict:
    from rest_framework.authtoken.models import Token

    from accounts.models import Tenant, User

    settings.ALLOWED_HOSTS = ["*"]
    with connection.cursor() as cur:
        cur.execute("SELECT tenant_id, n_cases FROM bench_scale_tenant WHERE size = 'large' ORDER BY n_cases DESC LIMIT 1")
        tenant_id, n_cases = cur.fetchone()
        cur.execute("SELECT count(*) FROM cases_workitem WHERE tenant_id = %s", [tenant_id])
        n_items = cur.fetchone()[0]
        cur.execute("SELECT count(*) FROM cases_workitem WHERE tenant_id = %s AND status = 'open'", [tenant_id])
        n_open = cur.fetchone()[0]
    tenant = Tenant.objects.get(pk=tenant_id)
    users = list(User.objects.filter(memberships__tenant_id=tenant_id).distinct().order_by("id")[:USERS])
    clients = [Client(HTTP_X_PROCEDO_TENANT=tenant.istat_code,
                      HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=u)[0].key}") for u in users]
    sql_time = [0.0]

    def timed(execute, sql, params, many, context):
        t0 = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            sql_time[0] += time.perf_counter() - t0

    watch = GcWatch()
    gc.callbacks.append(watch)
    profiler = cProfile.Profile() if os.environ.get("INBOX_PROFILE") == "1" else None
    result: dict = {"tenant": {"cases": n_cases, "work_items": n_items, "open_items": n_open, "users": len(users)},
                    "scopes": {}, "load_before": os.getloadavg()}
    for scope in ("mine", "available"):
        url = f"/api/v1/tasks/?scope={scope}&limit=50"
        for c in clients:  # warm-up
            assert c.get(url).status_code == 200
        walls, cpus, pys, pgs, sqls, gcs = [], [], [], [], [], []
        for _ in range(REQUESTS):
            client = random.choice(clients)
            sql_time[0] = 0.0
            n_gc = len(watch.events)
            with connection.execute_wrapper(timed):
                cpu0, pg0 = time.thread_time(), _backend_cpu()
                t0 = time.perf_counter()
                if profiler:
                    profiler.enable()
                response = client.get(url)
                if profiler:
                    profiler.disable()
                wall = time.perf_counter() - t0
                py, pg = time.thread_time() - cpu0, _backend_cpu() - pg0
                cpu = py + pg
            assert response.status_code == 200, response.content[:300]
            walls.append(wall * 1000)
            cpus.append(cpu * 1000)
            pys.append(py * 1000)
            pgs.append(pg * 1000)
            sqls.append(sql_time[0] * 1000)
            gcs.append(watch.events[n_gc:])
        gc_ms = [sum(ms for _g, ms in e) for e in gcs]
        slow = sorted(range(len(walls)), key=lambda i: walls[i])[int(len(walls) * 0.95):]
        result["scopes"][scope] = {
            "n": len(walls),
            "wall_p50": percentile(walls, 50), "wall_p95": percentile(walls, 95), "wall_max": max(walls),
            "cpu_p50": percentile(cpus, 50), "cpu_p95": percentile(cpus, 95),
            "python_cpu_p50": percentile(pys, 50), "python_cpu_p95": percentile(pys, 95),
            "postgres_cpu_p50": percentile(pgs, 50), "postgres_cpu_p95": percentile(pgs, 95),
            "sql_p50": percentile(sqls, 50), "sql_p95": percentile(sqls, 95),
            "requests_with_gc": sum(1 for e in gcs if e), "gc_full_collections": sum(1 for e in gcs for g, _ in e if g == 2),
            "gc_ms_in_slowest_5pct": round(sum(gc_ms[i] for i in slow) / max(1, len(slow)), 2),
            "sql_ms_in_slowest_5pct": round(sum(sqls[i] for i in slow) / max(1, len(slow)), 2),
        }
    result["load_after"] = os.getloadavg()
    if profiler:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats(os.environ.get("INBOX_SORT", "cumulative")).print_stats(45)
        result["profile"] = out.getvalue()
    return result


if __name__ == "__main__":
    data = main()
    text = json.dumps(data, indent=1, default=str)
    if len(sys.argv) > 1:
        Path(sys.argv[1]).write_text(text)
    print(json.dumps({k: v for k, v in data.items() if k != "profile"}, indent=1, default=str))
    if "profile" in data:
        print(data["profile"])
