"""Cost of one task completion: plain SpiffWorkflow in memory vs Procedo's services.

(a) SpiffWorkflow alone: parse once, run the 3-user-task model in memory.
(b) Procedo: `work_item_complete` on PostgreSQL: validation, row lock, load, run,
    save, work-item projection, audit hash chain, all in one transaction.
Only the completions are timed in both (not the case start).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/procedo_bench python bench/engine_cost.py
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("PROCEDO_ENV", "demo")  # benchmarks run on demo secrets, never in production

import django  # noqa: E402

django.setup()

from SpiffWorkflow.bpmn.workflow import BpmnWorkflow  # noqa: E402
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser  # noqa: E402
from SpiffWorkflow.util.task import TaskState  # noqa: E402

from bench.results import percentile, write_section  # noqa: E402

HERE = Path(__file__).parent / "three_tasks"
N = int(os.environ.get("BENCH_CASES", "300"))


def plain_spiff(n: int) -> list[float]:
    parser = SpiffBpmnParser()
    parser.add_bpmn_file(str(HERE / "three_tasks.bpmn"))
    spec = parser.get_spec("three_tasks")
    timings = []
    for _ in range(n):
        wf = BpmnWorkflow(spec)
        wf.do_engine_steps()
        for _step in range(3):
            t0 = time.perf_counter()
            task = wf.get_next_task(state=TaskState.READY, manual=True)
            task.data[task.task_spec.bpmn_id] = {"ok": True, "note": "bench"}
            task.run()
            wf.do_engine_steps()
            timings.append(time.perf_counter() - t0)
        assert wf.is_completed()
    return timings


def spiff_with_persistence_format(n: int) -> list[float]:
    """(a') SpiffWorkflow plus Procedo's state round trip (load, run, dump) per completion, no database."""
    from engine.spiff import BpmnWorkflow as ProcedoWorkflow
    from engine.spiff import ProcedoParser, dump_workflow, load_workflow, script_engine_for

    parser = ProcedoParser()
    parser.add_bpmn_file(str(HERE / "three_tasks.bpmn"))
    spec = parser.get_spec("three_tasks")
    engine = script_engine_for(None)
    timings = []
    for _ in range(n):
        wf = ProcedoWorkflow(spec, {}, script_engine=engine)
        wf.get_next_task(state=TaskState.READY).data.update(received_on="2026-03-02")
        wf.do_engine_steps()
        state = dump_workflow(wf)
        for _step in range(3):
            t0 = time.perf_counter()
            wf = load_workflow(state, spec=spec, subprocess_specs={}, script_engine=engine)
            task = wf.get_next_task(state=TaskState.READY, manual=True)
            task.data[task.task_spec.bpmn_id] = {"ok": True, "note": "bench"}
            task.run()
            wf.do_engine_steps()
            state = dump_workflow(wf)
            timings.append(time.perf_counter() - t0)
    return timings


def procedo(n: int) -> list[float]:
    from accounts.models import Membership, Tenant, User
    from cases.models import WorkItem
    from cases.services import case_start, work_item_complete
    from engine.bundles import read_bundle
    from engine.registry import process_version_publish

    process_version_publish(bundle=read_bundle(HERE))
    tenant, _ = Tenant.objects.get_or_create(
        slug="bench", defaults={"name": "Comune Bench", "istat_code": "999001", "belfiore_code": "Z999"}
    )
    user, _ = User.objects.get_or_create(username="bench.registrar")
    Membership.objects.get_or_create(user=user, tenant=tenant, role="registrar")
    timings = []
    for _ in range(n):
        case = case_start(tenant=tenant, user=user, process_id="three_tasks", data={})
        for _step in range(3):
            item = WorkItem.objects.filter(case=case, status="open").order_by("id").first()
            t0 = time.perf_counter()
            work_item_complete(work_item_id=item.pk, tenant=tenant, user=user, data={"ok": True, "note": "bench"})
            timings.append(time.perf_counter() - t0)
    return timings


def durable_commit_floor(n: int) -> list[float]:
    """(c) The floor under any persisted completion: one row UPDATE and its COMMIT, nothing else."""
    from django.db import connection, transaction

    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE IF NOT EXISTS bench_floor (id int PRIMARY KEY, n bigint NOT NULL)")
        cursor.execute("INSERT INTO bench_floor VALUES (1, 0) ON CONFLICT (id) DO NOTHING")
    timings = []
    for _ in range(n):
        t0 = time.perf_counter()
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("UPDATE bench_floor SET n = n + 1 WHERE id = 1")
        timings.append(time.perf_counter() - t0)
    return timings


def main() -> None:
    from django.db import connection

    plain_spiff(20)  # warm-up
    a = plain_spiff(N)
    spiff_with_persistence_format(20)
    a2 = spiff_with_persistence_format(N)
    procedo(10)  # warm-up (parser cache, connections)
    b = procedo(N)
    c = durable_commit_floor(N * 3) if connection.vendor == "postgresql" else []
    floor = f"""| (c) floor: one row UPDATE + COMMIT on the same database, nothing else | {statistics.mean(c) * 1000:.3f} | \
{percentile(c, 50) * 1000:.3f} | {percentile(c, 95) * 1000:.3f} |
""" if c else ""
    ma, mb = statistics.mean(a) * 1000, statistics.mean(b) * 1000
    ma2 = statistics.mean(a2) * 1000
    body = f"""
Command: `make bench` (or `DATABASE_URL=... .venv/bin/python bench/engine_cost.py`), {N} cases x 3 user tasks,
database: {connection.vendor}.

| path | mean ms / completion | p50 ms | p95 ms |
|---|---|---|---|
| (a) SpiffWorkflow in memory | {ma:.3f} | {percentile(a, 50) * 1000:.3f} | {percentile(a, 95) * 1000:.3f} |
| (a') (a) + Procedo's state format: load, run, dump (no database) | {ma2:.3f} | {percentile(a2, 50) * 1000:.3f} | {percentile(a2, 95) * 1000:.3f} |
| (b) Procedo services (persist, project, audit) | {mb:.3f} | {percentile(b, 50) * 1000:.3f} | {percentile(b, 95) * 1000:.3f} |
{floor}
Ratio (b)/(a): **{mb / ma:.1f}x** (target: at most 4x). Ratio (b)/(a'): {mb / ma2:.1f}x.
{f"A single durable commit (c) already costs {statistics.mean(c) / statistics.mean(a):.1f}x (a): the 4x target "
 "cannot be met by any design that persists each completion in its own transaction." if c else ""}
"""
    write_section("Engine cost per task completion", body)


if __name__ == "__main__":
    main()
