"""The scale benchmark (issue 16), one command: `bash bench/scale/run.sh`.

Phases (SCALE_PHASES, default generate,measure,faults):
- generate: a database SCALE_DB (procedo_scale) with the schema, the shipped procedures and the bulk
  data of bench/scale/generate.py (resumable: a rerun continues; SCALE_FRESH=1 starts over);
- measure: server time of inbox, case search and case page per municipality size (measure.py);
- faults: the production topology under a mixed load with a worker and a web process killed
  (topology.py), with the CPU-seconds of every process.
Each phase's figures go to bench/scale/results.json; the section "Scale: many municipalities" of
bench/RESULTS.md is written from it (so a phase can be rerun alone), with the cost per municipality.

Knobs: SCALE_TENANTS, SCALE_CASES, SCALE_ITEMS, SCALE_EVENTS (generate.py), SCALE_MEASURE_* (measure.py),
SCALE_FAULT_SECONDS, SCALE_FAULT_SETTLE (topology.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from bench.stack import BIN, ROOT, Stack  # noqa: E402

HERE = Path(__file__).resolve().parent
RESULTS_JSON = HERE / "results.json"
# Per-case tables of the bulk data (each row belongs to a case).
CASE_TABLES = ("cases_case", "cases_casesubject", "cases_workitem", "engine_workflowinstance", "audit_auditevent")
# What a municipality of ~10,000 inhabitants produces a year (deploy/README.md's assumptions).
CASES_PER_MUNICIPALITY_YEAR = 1000
OFFICE_SECONDS_YEAR = 250 * 8 * 3600  # the load falls in office hours


def log(msg: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {msg}", flush=True)


def load() -> dict:
    return json.loads(RESULTS_JSON.read_text()) if RESULTS_JSON.exists() else {}


def save(key: str, value) -> None:
    data = load()
    data[key] = value
    RESULTS_JSON.write_text(json.dumps(data, indent=1, default=str) + "\n")


def scale_stack() -> Stack:
    db = os.environ.get("SCALE_DB", "procedo_scale")
    return Stack(db=db, var_dir=Path(os.environ.get("TMPDIR", "/tmp")) / f"{db}-var")


def generate(stack: Stack) -> None:
    exists = stack.psql(f"SELECT count(*) FROM pg_database WHERE datname = '{stack.db}'") == "1"
    fresh = os.environ.get("SCALE_FRESH") == "1" or not exists
    if fresh:
        log(f"fresh database {stack.db}: schema, procedures, signing keys")
        stack.prepare()
    else:
        stack.manage("migrate", "--noinput", "-v", "0")
    t0 = time.monotonic()
    proc = subprocess.run([str(BIN / "python"), str(HERE / "generate.py")], cwd=ROOT, env=stack.env, check=False)
    if proc.returncode:
        raise SystemExit("generate.py failed")
    steps = stack.psql("SELECT name || '|' || rows || '|' || round(seconds::numeric, 1) FROM bench_scale_step ORDER BY done_at",
                       stack.db).splitlines()
    mix = stack.psql("SELECT size || '|' || count(*) || '|' || min(n_cases) || '|' || min(n_users) FROM bench_scale_tenant "
                     "GROUP BY size ORDER BY min(n_cases)", stack.db).splitlines()
    counts = {t: int(stack.psql(f"SELECT count(*) FROM {t}", stack.db)) for t in
              ("accounts_tenant", "cases_case", "cases_workitem", "audit_auditevent", "engine_workflowinstance")}
    open_items = int(stack.psql("SELECT count(*) FROM cases_workitem WHERE status = 'open'", stack.db))
    sizes = {t: int(stack.psql(f"SELECT pg_total_relation_size('{t}')", stack.db)) for t in CASE_TABLES}
    save("generate", {"steps": steps, "mix": mix, "counts": counts, "open_items": open_items, "table_bytes": sizes,
                      "database_bytes": int(stack.psql(f"SELECT pg_database_size('{stack.db}')")),
                      "seconds_this_run": time.monotonic() - t0, "fresh": fresh,
                      "command_env": {k: os.environ[k] for k in os.environ if k.startswith("SCALE_")}})


def measure(stack: Stack) -> None:
    out = stack.var_dir / "measure.json"
    proc = subprocess.run([str(BIN / "python"), str(HERE / "measure.py"), str(out)], cwd=ROOT, env=stack.env, check=False)
    if proc.returncode:
        raise SystemExit("measure.py failed")
    save("measure", json.loads(out.read_text()))


def faults() -> None:
    out = Path(os.environ.get("TMPDIR", "/tmp")) / f"scale-topology-{os.getpid()}.json"
    proc = subprocess.run([str(BIN / "python"), str(HERE / "topology.py"), str(out)], cwd=ROOT, check=False)
    if proc.returncode or not out.exists():
        raise SystemExit("topology.py failed")
    save("faults", json.loads(out.read_text()))
    out.unlink()


# --- the section of bench/RESULTS.md -------------------------------------------------------------------


def _mb(n: float) -> str:
    return f"{n / 1e6:,.1f} MB"


def render(data: dict) -> str:
    lines: list[str] = []
    g = data.get("generate")
    if g:
        c = g["counts"]
        lines += [
            "Command: `bash bench/scale/run.sh` (phases generate, measure, faults; `SCALE_DB`, sizes by `SCALE_*`).", "",
            f"**Data**: {c['accounts_tenant'] - 1:,} municipalities (+1 template), {c['cases_case']:,} cases, "
            f"{c['cases_workitem']:,} work items ({g['open_items']:,} open), {c['audit_auditevent']:,} audit events, "
            f"{c['engine_workflowinstance']:,} workflow instances; database {_mb(g['database_bytes'])}.", "",
            "| size | municipalities | cases each | operators each |", "|---|---:|---:|---:|",
        ]
        for row in g["mix"]:
            size, n, cases, users = row.split("|")
            lines.append(f"| {size} | {n} | {int(cases):,} | {users} |")
        total = sum(float(s.split("|")[2]) for s in g["steps"] if s.split("|")[0] in ("cases", "work_items", "audit_events"))
        lines += ["", "Generation (INSERT ... SELECT generate_series, one transaction per step, secondary indexes rebuilt "
                  "after): " + ", ".join(f"{s.split('|')[0]} {int(s.split('|')[1]):,} rows in {s.split('|')[2]} s"
                                          for s in g["steps"] if s.split("|")[0] in ("cases", "work_items", "audit_events"))
                  + f" ({total / 60:.0f} min of inserts). Generated audit events are not chain-valid (filler hashes; "
                  "`verify_audit` is not run on this database); every foreign key was checked by anti-join.", ""]
    m = data.get("measure")
    if m:
        lines += ["**Server time per municipality size** (in-process through the whole Django stack: middleware, "
                  "session or token, tenant, selectors, template or serializer; ms). *Wall* is elapsed time on this "
                  "2-core machine shared with other jobs (load average 6-8 during the runs); *CPU* is the request's own "
                  "CPU time plus its PostgreSQL backend's (/proc), the cost on an idle core. Goal: inbox p95 < 20 ms.", "",
                  "| size (cases, open items per municipality) | endpoint | wall p50 | wall p95 | CPU p50 | CPU p95 | goal | met (wall / CPU) |",
                  "|---|---|---:|---:|---:|---:|---:|---|"]
        for size, row in m["sizes"].items():
            label = f"{size} ({row['cases'][0]:,}; {min(row['open_items']):,}-{max(row['open_items']):,})"
            for name, r in row["endpoints"].items():
                lines.append(f"| {label} | {name} | {r['p50']:.1f} | {r['p95']:.1f} | {r['cpu_p50']:.1f} | {r['cpu_p95']:.1f} "
                             f"| {r['goal']} | {'yes' if r['met'] else 'no'} / {'yes' if r['met_cpu'] else 'no'} |")
                label = ""
        lines += ["", "Reading: the inbox *query* (what the 20 ms goal is about: first page of 50 with case and assignee, plus "
                  "the count, on the largest municipality of a 5 M-work-item table) stays at 5-10 ms of CPU; its wall p95 "
                  "moves around 20 ms with the machine's load. A whole API request costs 7-14 ms of CPU at p50; its CPU p95 "
                  "(20-30 ms) is Python's garbage collector landing on some requests of this long-lived measuring process "
                  "(a single client in a loop measures p95 ~12 ms).", "",
                  "Found and fixed with these figures (product code, with tests):",
                  "- search by fiscal code joined the subject rows without their tenant: a sequential scan of every "
                  "municipality's 1.3 M subject rows (85 ms) plus a DISTINCT; now a subquery on the (tenant, fiscal_code) "
                  "index (`cases.selectors.case_ids_of_subject`, also for the inbox filter and citizens' own cases);",
                  "- the case list and case read loaded each case's process version with its whole bundle (100-200 KB of "
                  "JSON parsed per row): deferred (`VERSION_BODY`); search page CPU 34 → 12 ms at p50;",
                  "- a full garbage collection of a web process took ~110 ms of one request: start-up objects are frozen "
                  "(`config/wsgi.py`).", ""]
    f = data.get("faults")
    if f:
        ch = f["checks"]
        five = {k: v for k, v in f["answers"].items() if k.split(" ")[2].startswith("5")}
        conn = {k: v for k, v in f["answers"].items() if "connection error" in k}
        lines += [
            f"**Fault run** (`topology.py`): nginx (deploy/nginx, TLS) → 2 gunicorn processes (2 workers each); 2 Celery "
            f"workers (all four queues, concurrency 2) and 1 beat on RabbitMQ (quorum queues, a vhost of its own); "
            f"PostgreSQL; simulators over HTTP. Mixed load for {f['duration']} s: {f['done']}. At {f['killed_at']} "
            f"(half-way) worker1 and web1 were SIGKILLed (whole process groups, {f['running_at_kill']} outbox "
            f"deliveries running) and not restarted; then the cases were driven to their end ({f['drain_seconds']:.0f} s).", "",
            "| check | figure | |", "|---|---|---|",
            f"| residence-change cases closed/accepted | {ch['closed accepted']} of {ch['residence cases']} | "
            f"{'OK' if ch['ok']['every residence case closed/accepted'] else 'FAILED'} |",
            f"| ANPR register changes applied (simulator's log) / outbox rows done | {ch['ANPR register changes applied']} / "
            f"{ch['ANPR outbox rows done']} | {'OK' if ch['ok']['one ANPR register change per case'] else 'FAILED'} |",
            f"| ANPR HTTP requests received / operations requested twice (same idOperazioneComune, answered from the log) | "
            f"{ch['ANPR HTTP requests (register changes)']} / {ch['ANPR operations requested more than once (replays)']} | |",
            f"| outbox messages not done | {ch['outbox rows not done']} (`{'; '.join(ch['outbox'])}`) | "
            f"{'OK' if ch['ok']['every outbox message done'] else 'FAILED'} |",
            f"| signed deeds: rows, cases, most per case and kind | {', '.join(ch['deeds: rows, cases, max per case and kind'])} | "
            f"{'OK' if ch['ok']['one deed per case'] else 'FAILED'} |",
            f"| timers fired per timer case (min, max, cases) | {', '.join(ch['timer fired per case (min|max|cases)'])} of "
            f"{ch['timer cases']} | {'OK' if ch['ok']['every timer fired once'] and ch['ok']['every timer case closed'] else 'FAILED'} |",
            f"| 5xx the clients saw, after nginx's retries (every POST carries an Idempotency-Key, so nginx resends "
            f"it to the other web process when the one executing it dies; deploy/README.md) | {sum(five.values())} "
            f"{five or ''} | {'OK' if not five else 'FAILED'} |",
            f"| answers replayed from an idempotency record (the call had committed on the killed process) | "
            f"{sum(f.get('replayed', {}).values())} {f.get('replayed') or ''} | |",
            f"| broken connections seen by the clients | {sum(conn.values())} | {'OK' if not conn else 'FAILED'} |",
            f"| requests nginx passed to the second web process (method → final status) | {f['proxy_retries']} | |",
            f"| client calls retried (any reason) / load errors | {f['retried_calls']} / {f['n_load_errors']} | |",
            "",
            "Answers by endpoint: " + ", ".join(f"`{k}` {v}" for k, v in f["answers"].items()) + ".", "",
        ]
    if f and g:
        lines += cost(data)
    return "\n".join(lines)


def cost(data: dict) -> list[str]:
    f, g = data["faults"], data["generate"]
    cpu = f["cpu_seconds"]
    cases = max(1, f["checks"]["residence cases"])
    total = sum(cpu.values())
    per_case = total / cases
    year = per_case * CASES_PER_MUNICIPALITY_YEAR
    bulk_cases = g["counts"]["cases_case"]
    bulk_per_1000 = sum(g["table_bytes"].values()) / bulk_cases * 1000
    before, after = f["db_bytes_before"]["tables"], f["db_bytes"]["tables"]
    real_cases = max(1, f["db_bytes"]["cases"] - f["db_bytes_before"]["cases"])
    real_per_1000 = sum(after[t] - before.get(t, 0) for t in after) / real_cases * 1000
    docs_per_1000 = (f["media_bytes"] - f["media_bytes_before"]) / real_cases * 1000
    rows = " · ".join(f"{k} {v:.0f} s" for k, v in sorted(cpu.items(), key=lambda kv: -kv[1]))
    per_table = ", ".join(f"{t} {_mb(g['table_bytes'][t] / bulk_cases * 1000)}" for t in CASE_TABLES)
    return [
        "**Cost per municipality** (from the fault run's CPU and the two databases):", "",
        f"- CPU-seconds of the fault run: {rows}; total {total:.0f} s for {cases} residence-change cases handled end to "
        f"end (opened, registration, ANPR, deed rendered and signed, police check, closed) with the reads around them "
        f"and {f['checks']['timer cases']} timer cases: **{per_case:.2f} CPU-s per case, {per_case * 1000:,.0f} per 1,000 cases**.",
        f"- A municipality of ~10,000 inhabitants (~{CASES_PER_MUNICIPALITY_YEAR:,} cases a year): {year / 3600:.2f} CPU-hours a "
        f"year, {year / OFFICE_SECONDS_YEAR * 1000:.2f} milli-vCPU on average over office hours; 100 of them: "
        f"{year * 100 / OFFICE_SECONDS_YEAR:.2f} vCPU on average in office hours.",
        f"- Database bytes per 1,000 cases, bulk data (5 work items, 10 audit events, a workflow state each; tables + TOAST + "
        f"indexes): **{_mb(bulk_per_1000)}** ({per_table}).",
        f"- Database bytes per 1,000 real residence-change cases of the fault run (every table that grew: outbox, "
        f"documents' rows, operation results, seals...; small sample, page-granular): {_mb(real_per_1000)}; deeds in "
        f"storage: {_mb(docs_per_1000)} per 1,000 cases.",
        "",
    ]


def write() -> None:
    from bench.results import write_section

    write_section("Scale: many municipalities", render(load()))


def main() -> int:
    phases = [p.strip() for p in os.environ.get("SCALE_PHASES", "generate,measure,faults").split(",") if p.strip()]
    stack = scale_stack()
    if "generate" in phases:
        generate(stack)
    if "measure" in phases:
        measure(stack)
    if "faults" in phases:
        faults()
    write()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
