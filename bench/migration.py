"""Migration of running cases: 1,000 cases moved to a new version of their process in one batch.

The model is five user tasks with a boundary timer on the third; version 2 inserts a task,
renames another (an override in the plan) and lengthens the timer. Half the cases are at the
first task, half at the second. Timed: the dry run and
the execution of the batch (engine.migration.batch_run, as the Celery task runs it: each case in
its own transaction, instance lock, state moved and reloaded, work items re-projected, audit).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/procedo_bench .venv/bin/python bench/migration.py
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

from bench.results import percentile, write_section  # noqa: E402

N = int(os.environ.get("BENCH_CASES", "1000"))
PROCESS = "bench_migration"
FORM = "empty.schema.json"


def _bpmn(steps: list[tuple[str, str]], timer: str, run: str) -> str:
    ns = ('xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
          'xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core"')
    ids = [s[0] for s in steps]
    nodes = ['<bpmn:startEvent id="start" />', '<bpmn:endEvent id="end" />']
    for task_id, name in steps:
        nodes.append(
            f'<bpmn:userTask id="{task_id}" name="{name}"><bpmn:extensionElements><spiffworkflow:properties>'
            f'<spiffworkflow:property name="formJsonSchemaFilename" value="{FORM}" />'
            f'<spiffworkflow:property name="dueDate" value="add_working_days(received_on, 10)" />'
            f"</spiffworkflow:properties></bpmn:extensionElements></bpmn:userTask>"
        )
    third = ids[2]
    nodes.append(
        f'<bpmn:boundaryEvent id="deadline" attachedToRef="{third}" cancelActivity="true"><bpmn:timerEventDefinition>'
        f'<bpmn:timeDuration xsi:type="bpmn:tFormalExpression">"{timer}"</bpmn:timeDuration></bpmn:timerEventDefinition>'
        f'</bpmn:boundaryEvent><bpmn:endEvent id="late" />'
    )
    chain = ["start", *ids, "end"]
    flows = [f'<bpmn:sequenceFlow id="f{i}" sourceRef="{a}" targetRef="{b}" />' for i, (a, b) in enumerate(zip(chain, chain[1:], strict=False))]
    flows.append('<bpmn:sequenceFlow id="f_late" sourceRef="deadline" targetRef="late" />')
    refs = "".join(f"<bpmn:flowNodeRef>{n}</bpmn:flowNodeRef>" for n in [*chain, "deadline", "late"])
    return (f'<?xml version="1.0" encoding="UTF-8"?><bpmn:definitions {ns} id="d" targetNamespace="http://procedo.example/bench">'
            f"<!-- bench run {run} -->"
            f'<bpmn:process id="{PROCESS}" name="Bench migrazione" isExecutable="true"><bpmn:laneSet id="ls">'
            f'<bpmn:lane id="l" name="registrar">{refs}</bpmn:lane></bpmn:laneSet>{"".join(nodes)}{"".join(flows)}'
            f"</bpmn:process></bpmn:definitions>")


def _publish(steps, timer, run):
    """A new version each run (the run is written in the model), so cases start on the first one."""
    import yaml

    from engine.bundles import Bundle
    from engine.models import ProcessVersion
    from engine.registry import process_version_publish

    manifest = {"name": "Bench migrazione", "category": "bench", "channel": ["counter"], "starters": ["registrar"],
                "start_form": "start.schema.json"}
    bundle = Bundle(process_id=PROCESS, manifest=manifest, files={
        f"{PROCESS}.bpmn": _bpmn(steps, timer, run), f"forms/{FORM}": '{"type": "object"}',
        "forms/start.schema.json": '{"type": "object"}', "manifest.yaml": yaml.safe_dump(manifest),
    })
    outcome = process_version_publish(bundle=bundle)
    return ProcessVersion.objects.select_related("definition").get(definition__process_id=PROCESS, version=outcome.version)


def _timed_batch(plan, user, mode) -> tuple[float, list[float], object]:
    from engine import migration

    batch = migration.batch_create(plan=plan, user=user, mode=mode, queue=False)
    stamps: list[float] = []
    t0 = time.perf_counter()
    batch = migration.batch_run(batch.pk, progress=lambda _b, _r: stamps.append(time.perf_counter()))
    total = time.perf_counter() - t0
    per_case = [b - a for a, b in zip([t0, *stamps], stamps, strict=False)]
    return total, per_case, batch


def main() -> None:
    from django.db import connection

    from accounts.models import Membership, Tenant, User
    from cases.models import WorkItem
    from cases.services import case_start, work_item_complete
    from engine import migration
    from engine.models import BatchMode, WorkflowInstance

    stamp = str(int(time.time()))
    v1 = _publish([("receive", "Ricezione"), ("check", "Verifica"), ("decide", "Decisione"), ("notify", "Comunicazione"),
                   ("archive", "Archiviazione")], "P30D", stamp)
    tenant = Tenant.objects.create(slug=f"bench-mig-{stamp}", name=f"Comune Bench Migrazione {stamp}",
                                   istat_code=f"9{stamp[-5:]}", belfiore_code=f"Y{stamp[-3:]}")
    registrar, _ = User.objects.get_or_create(username=f"bench.mig.registrar.{stamp}")
    admin, _ = User.objects.get_or_create(username=f"bench.mig.admin.{stamp}")
    Membership.objects.get_or_create(user=registrar, tenant=tenant, role="registrar")
    Membership.objects.get_or_create(user=admin, tenant=tenant, role="process_admin")
    t0 = time.perf_counter()
    for i in range(N):
        case = case_start(tenant=tenant, user=registrar, process_id=PROCESS, data={})
        if i % 2:
            item = WorkItem.objects.get(case=case, status="open")
            work_item_complete(work_item_id=item.pk, tenant=tenant, user=registrar, data={})
    setup = time.perf_counter() - t0
    v2 = _publish([("receive", "Ricezione"), ("check_docs", "Verifica dei documenti"), ("inspect", "Sopralluogo"),
                   ("decide", "Decisione"), ("notify", "Comunicazione"), ("archive", "Archiviazione")], "P45D", stamp)
    plan = migration.plan_create(tenant=tenant, user=admin, source_version_id=v1.pk, target_version_id=v2.pk,
                                 document={"overrides": {"check": "check_docs"}}, title="bench")
    dry_total, dry_cases, dry = _timed_batch(plan, admin, BatchMode.DRY_RUN)
    run_total, run_cases, run = _timed_batch(plan, admin, BatchMode.EXECUTE)
    moved = WorkflowInstance.objects.filter(tenant=tenant, process_version=v2).count()
    assert run.ok == N == moved, (run.ok, run.refused, run.failed, moved)

    def row(label, total, cases, batch):
        return (f"| {label} | {batch.total} | {batch.ok} | {batch.refused + batch.failed} | {total:.1f} | "
                f"{batch.total / total:.0f} | {percentile(cases, 50) * 1000:.1f} | {percentile(cases, 95) * 1000:.1f} |")

    body = f"""
Command: `DATABASE_URL=... .venv/bin/python bench/migration.py` (in `make bench`), {N} cases, database:
{connection.vendor}. Model: five user tasks with a boundary timer (P30D) on the third; half the cases at the
first task, half at the second. Version 2 inserts a task, renames one (plan override `check -> check_docs`)
and changes the timer to P45D (no case waits on it yet). Cases set up in {setup:.0f} s (not timed below).

| batch | cases | ok | refused/failed | wall time (s) | cases/s | per case p50 (ms) | per case p95 (ms) |
|---|---:|---:|---:|---:|---:|---:|---:|
{row("dry run (verdicts only)", dry_total, dry_cases, dry)}
{row("execution (migrate, re-project, audit)", run_total, run_cases, run)}

One worker process, one case per transaction (instance lock, load on the source, move and reload on the
target, engine steps, work items, audit chain). Several engine workers can run batches of different plans in
parallel; one batch is sequential by design (progress, and the failures of one case never stop the others).
"""
    write_section("Migration of running cases", body)


if __name__ == "__main__":
    main()
