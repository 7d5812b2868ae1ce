"""Does the audit chain serialise a tenant? Completions/s with 8 concurrent clients on one tenant vs
8 clients on 8 tenants, with one audit chain per tenant (PROCEDO_AUDIT_CHAIN_SHARDS=1, the design
before issue 9) and with the sharded chains (the configured count).

Each client is its own process with its own database connection and completes distinct tasks
through `work_item_complete` (row locks, engine step, projection, audit), as fast as it can.

    DATABASE_URL=postgres://.../procedo_bench .venv/bin/python bench/audit_contention.py
"""

from __future__ import annotations

import multiprocessing as mp
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("PROCEDO_ENV", "demo")  # benchmarks run on demo secrets, never in production

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402

from bench.results import percentile, write_section  # noqa: E402

CLIENTS = int(os.environ.get("BENCH_AUDIT_CLIENTS", "8"))
PER_CLIENT = int(os.environ.get("BENCH_AUDIT_PER_CLIENT", "50"))
SHARDS = settings.PROCEDO_AUDIT_CHAIN_SHARDS


def services():
    """The product entry points the bench drives (one place: they move when the services do)."""
    from cases.services import case_start, work_item_complete

    return case_start, work_item_complete


def prepare(label: str, tenants: int) -> list[tuple[int, int, list[int]]]:
    """Per client: (tenant id, user id, ids of open first tasks)."""
    from accounts.models import Membership, Tenant, User
    from cases.models import WorkItem
    from engine.bundles import read_bundle
    from engine.registry import process_version_publish

    case_start, _complete = services()
    process_version_publish(bundle=read_bundle(ROOT / "bench" / "three_tasks"))
    stamp = f"{int(time.time() * 1000) % 10**8}"
    made = []
    for t in range(tenants):
        n = Tenant.objects.filter(slug__startswith="bench-audit-").count()
        made.append(Tenant.objects.create(slug=f"bench-audit-{label}-{stamp}-{t}"[:50], name=f"Comune Audit {n}",
                                          istat_code=f"{800000 + n}", belfiore_code=f"Y{n % 1000:03d}"))
    plan = []
    for c in range(CLIENTS):
        tenant = made[c % tenants]
        user = User.objects.create(username=f"bench.audit.{label}.{stamp}.{c}")
        Membership.objects.create(user=user, tenant=tenant, role="registrar")
        ids = []
        for _ in range(PER_CLIENT):
            case = case_start(tenant=tenant, user=user, process_id="three_tasks", data={})
            ids.append(WorkItem.objects.get(case=case, bpmn_id="first").pk)
        plan.append((tenant.pk, user.pk, ids))
    return plan


def _client(shards: int, tenant_id: int, user_id: int, ids: list[int], start, out) -> None:
    from django.db import connections

    connections.close_all()  # never share the parent's connection
    settings.PROCEDO_AUDIT_CHAIN_SHARDS = shards
    from accounts.models import Tenant, User

    _start, work_item_complete = services()
    tenant, user = Tenant.objects.get(pk=tenant_id), User.objects.get(pk=user_id)
    latencies = []
    start.wait()
    for pk in ids:
        t0 = time.perf_counter()
        work_item_complete(work_item_id=pk, tenant=tenant, user=user, data={"ok": True, "note": "bench"})
        latencies.append(time.perf_counter() - t0)
    out.put(latencies)
    connections.close_all()


def run(shards: int, plan) -> tuple[float, list[float]]:
    from django.db import connections

    connections.close_all()
    ctx = mp.get_context("fork")
    start, out = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_client, args=(shards, t, u, ids, start, out)) for t, u, ids in plan]
    for p in procs:
        p.start()
    time.sleep(1.0)  # every client connected and waiting
    t0 = time.perf_counter()
    start.set()
    latencies: list[float] = []
    for _ in procs:
        latencies += out.get(timeout=600)
    wall = time.perf_counter() - t0
    for p in procs:
        p.join(30)
    return wall, latencies


def main() -> None:
    from audit.services import verify_chain

    rows = []
    load_before = "/".join(f"{x:.2f}" for x in os.getloadavg())
    for shards, design in ((1, "one chain per tenant (before)"), (SHARDS, f"{SHARDS} chains per tenant (now)")):
        for tenants in (1, CLIENTS):
            plan = prepare(f"s{shards}t{tenants}", tenants)
            wall, latencies = run(shards, plan)
            done = len(latencies)
            rows.append(f"| {design} | {CLIENTS} clients on {tenants} tenant{'s' if tenants > 1 else ''} | {done} | "
                        f"{done / wall:.0f} | {percentile(latencies, 50) * 1000:.1f} | "
                        f"{percentile(latencies, 95) * 1000:.1f} |")
            print(rows[-1], flush=True)
    report = verify_chain()
    load_after = "/".join(f"{x:.2f}" for x in os.getloadavg())
    body = f"""
Command: `make bench` (or `DATABASE_URL=... .venv/bin/python bench/audit_contention.py`). {CLIENTS} client processes,
each with its own connection, complete {PER_CLIENT} distinct tasks each through `work_item_complete` (row locks,
engine step, projection, audit event) as fast as they can; PostgreSQL and the clients share the 2 cores.
"Before" is the same code with `PROCEDO_AUDIT_CHAIN_SHARDS=1` (one chain, one head row per tenant, locked by each
append until its transaction commits). Load average before / after: {load_before} / {load_after}.
All chains verified afterwards: {"OK" if report.ok else "FAILED: " + report.reason} ({report.checked} events).

| audit chains | clients | completions | completions/s | p50 ms | p95 ms |
|---|---|---|---|---|---|
{chr(10).join(rows)}
"""
    write_section("Audit chains under concurrent completions", body)


if __name__ == "__main__":
    main()
