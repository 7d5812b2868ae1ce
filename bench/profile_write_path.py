"""Where a human task's write path spends its statements and time, action by action.

The shape is the Viewflow peer's (../shared/peers/viewflow/README.md): start a case; for each of
three user tasks: look the task up, claim it, complete it; each action its own transaction,
committed (row locks and the audit chain on). The process is bench/three_tasks.

Per action it prints the SQL statements (data vs transaction control: BEGIN/COMMIT/SAVEPOINT/
RELEASE/ROLLBACK), the mean time (median of the runs' means), and the cProfile top entries of one
batch, so that a change to the write path can be measured before it is argued about.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/procedo_bench \
        .venv/bin/python bench/profile_write_path.py [-n 300] [--repeat 3] [--profile 50] [--sql]

The database must be migrated (`manage.py migrate`). It prints; it writes nothing to RESULTS.md
(the side-by-side figure against Viewflow is `make bench`'s).
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import io
import os
import pstats
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("PROCEDO_ENV", "demo")  # benchmarks run on demo secrets, never in production

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

HERE = Path(__file__).parent / "three_tasks"
ACTIONS = ("start", "lookup", "claim", "complete")
TX_CONTROL = {"BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE"}
STEP_DATA = {"ok": True, "note": "bench"}


class Recorder:
    def __init__(self, *, count: bool) -> None:
        self.count = count
        self.times: dict[str, list[float]] = {a: [] for a in ACTIONS}
        self.data: dict[str, list[int]] = {a: [] for a in ACTIONS}
        self.tx: dict[str, list[int]] = {a: [] for a in ACTIONS}
        self.sql: dict[str, list[str]] = {}

    def run(self, action: str, fn: Callable[[], Any]) -> Any:
        if not self.count:
            t0 = time.perf_counter()
            result = fn()
            self.times[action].append(time.perf_counter() - t0)
            return result
        with CaptureQueriesContext(connection) as ctx:
            t0 = time.perf_counter()
            result = fn()
            self.times[action].append(time.perf_counter() - t0)
        sqls = [q["sql"] for q in ctx.captured_queries]
        control = [s for s in sqls if s.split(" ", 1)[0].rstrip(";").upper() in TX_CONTROL]
        self.data[action].append(len(sqls) - len(control))
        self.tx[action].append(len(control))
        self.sql.setdefault(action, sqls)
        return result


def setup() -> tuple[Any, Any]:
    from accounts.models import Membership, Tenant, User
    from engine.bundles import read_bundle
    from engine.registry import process_version_publish

    process_version_publish(bundle=read_bundle(HERE))
    tenant, _ = Tenant.objects.get_or_create(
        slug="bench", defaults={"name": "Comune Bench", "istat_code": "999001", "belfiore_code": "Z999"}
    )
    user, _ = User.objects.get_or_create(username="bench.registrar")
    Membership.objects.get_or_create(user=user, tenant=tenant, role="registrar")
    # A fresh object, as a request would have: its role cache is empty.
    return Tenant.objects.get(pk=tenant.pk), User.objects.get(pk=user.pk)


def one_case(tenant: Any, user: Any, rec: Recorder) -> None:
    from cases.models import WorkItem, WorkItemStatus
    from cases.services import case_start, work_item_claim, work_item_complete

    case = rec.run("start", lambda: case_start(tenant=tenant, user=user, process_id="three_tasks", data={}))
    for _step in range(3):
        item_id = rec.run(
            "lookup",
            lambda: WorkItem.objects.filter(tenant=tenant, case_id=case.pk, status=WorkItemStatus.OPEN)
            .values_list("pk", flat=True)
            .first(),
        )
        claim = functools.partial(work_item_claim, work_item_id=item_id, tenant=tenant, user=user)
        rec.run("claim", claim)
        complete = functools.partial(work_item_complete, work_item_id=item_id, tenant=tenant, user=user, data=STEP_DATA)
        rec.run("complete", complete)
    case.refresh_from_db()
    assert case.status == "closed", case.status


# Where the time of the actions goes: (label, module, class or "", function) wrapped by --breakdown.
BREAKDOWN = (
    ("audit_record (the claim's; start and completion fold theirs into the projection)", "cases.services", "",
     "audit_record"),
    ("engine: load the state", "engine.runtime", "", "load_for_read"),
    ("engine: dump the state", "engine.runtime", "", "dump_workflow"),
    ("projection (with the instance save on PostgreSQL)", "engine.runtime", "InstanceRuntime", "project"),
    ("form validation", "cases.services", "", "validate_data"),
)


def install_breakdown() -> dict[str, list[float]]:
    import importlib

    spent: dict[str, list[float]] = {label: [] for label, *_rest in BREAKDOWN}
    for label, module, class_name, function in BREAKDOWN:
        owner: Any = importlib.import_module(module)
        if class_name:
            owner = getattr(owner, class_name)
        original = getattr(owner, function)

        def timed(*a: Any, _original: Any = original, _label: str = label, **kw: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return _original(*a, **kw)
            finally:
                spent[_label].append(time.perf_counter() - t0)

        setattr(owner, function, timed)
    return spent


def batch(n: int, *, count: bool) -> Recorder:
    tenant, user = setup()
    rec = Recorder(count=count)
    for _ in range(n):
        one_case(tenant, user, rec)
    return rec


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=300, help="cases per timed run")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs (the median is reported)")
    parser.add_argument("--profile", type=int, default=50, help="cases in the cProfile batch (0: none)")
    parser.add_argument("--top", type=int, default=25, help="cProfile entries to print")
    parser.add_argument("--sql", action="store_true", help="print the SQL of one case, action by action")
    parser.add_argument("--breakdown", action="store_true", help="time spent inside a few parts, per case")
    args = parser.parse_args()

    batch(10, count=False)  # warm-up: parser cache, connection, audit chain head
    counted = batch(20, count=True)
    runs, cpu = [], []
    for _ in range(args.repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        runs.append((batch(args.n, count=False), time.perf_counter() - t0))
        cpu.append((time.process_time() - c0) / args.n * 1000)

    print(f"database: {connection.vendor}; {args.n} cases x 3 user tasks, median of {args.repeat} runs\n")
    print("| action | data stmts | tx stmts | mean ms (median of runs) | runs |")
    print("|---|---|---|---|---|")
    for action in ACTIONS:
        means = [statistics.mean(r.times[action]) * 1000 for r, _wall in runs]
        print(
            f"| {action} | {statistics.mean(counted.data[action]):.1f} | {statistics.mean(counted.tx[action]):.1f} "
            f"| {statistics.median(means):.2f} | {', '.join(f'{m:.2f}' for m in means)} |"
        )
    per_case = [wall / args.n * 1000 for _r, wall in runs]
    data = sum(sum(counted.data[a]) for a in ACTIONS) / 20
    tx = sum(sum(counted.tx[a]) for a in ACTIONS) / 20
    task_data = (sum(counted.data["claim"]) + sum(counted.data["complete"])) / 60
    task_tx = (sum(counted.tx["claim"]) + sum(counted.tx["complete"])) / 60
    print(
        f"\nper case (start + 3 x lookup/claim/complete): {data:.1f} data + {tx:.1f} tx statements, "
        f"{statistics.median(per_case):.2f} ms wall (runs: {', '.join(f'{m:.2f}' for m in per_case)})"
    )
    print(f"Python CPU in this process per case: {statistics.median(cpu):.2f} ms (the rest: database and waiting)")
    print(f"per task: {statistics.median(per_case) / 3:.2f} ms; claim+complete {task_data:.1f} data + {task_tx:.1f} tx")
    start = statistics.median([statistics.mean(r.times["start"]) for r, _w in runs])
    done = statistics.median([statistics.mean(r.times["complete"]) for r, _w in runs])
    print(f"case start / one completion: {start / done:.2f}x")

    if args.sql:
        for action in ACTIONS:
            print(f"\n--- SQL of one {action}")
            for sql in counted.sql[action]:
                print("  " + (sql if len(sql) < 400 else sql[:400] + " ..."))

    if args.breakdown:
        spent = install_breakdown()
        t0 = time.perf_counter()
        batch(args.n, count=False)
        wall = (time.perf_counter() - t0) / args.n * 1000
        print(f"\n--- inside the actions, ms per case (one more run of {args.n}; wall {wall:.2f} ms per case)")
        for label, values in spent.items():
            print(f"  {label}: {sum(values) / args.n * 1000:.2f} ms ({len(values) / args.n:.0f} calls)")

    if args.profile:
        profiler = cProfile.Profile()
        profiler.enable()
        batch(args.profile, count=False)
        profiler.disable()
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        stats.sort_stats("cumulative").print_stats(args.top)
        stats.sort_stats("tottime").print_stats(args.top)
        print(f"\n--- cProfile of {args.profile} cases")
        print(out.getvalue())


if __name__ == "__main__":
    main()
