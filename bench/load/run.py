"""Load drill driver: fresh database procedo_load, the real stack (bench/stack.py), seeded users and cases,
locust headless for DURATION seconds, everything stopped, figures in bench/load/RESULTS.md and the raw
locust CSVs in bench/load/results_*.csv.

Environment: DURATION (s, default 300), OPERATORS (25), READERS (200), CITIZENS (20), INITIAL_CASES (300),
WEB_WORKERS (3), SPAWN_RATE (users arriving per second, 4), LOAD_DB (procedo_load), DRILL_PG_URL, DRILL_REDIS_URL (redis://127.0.0.1:6379/7).
"""

from __future__ import annotations

import csv
import datetime as dt
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from bench.stack import BIN, ROOT, Stack  # noqa: E402

HERE = Path(__file__).resolve().parent
LOAD: dict[str, str] = {}  # the machine's load average when locust started and when it ended


def main() -> int:
    duration = int(os.environ.get("DURATION", "300"))
    counts = {k: int(os.environ.get(k, d)) for k, d in (("OPERATORS", "25"), ("READERS", "200"), ("CITIZENS", "20"))}
    stack = Stack(db=os.environ.get("LOAD_DB", "procedo_load"), web_workers=int(os.environ.get("WEB_WORKERS", "3")))
    users_file = stack.var_dir / "users.json"
    started = time.monotonic()
    server: list[str] = []
    try:
        # Citizens sign in with SPID through the demo identity provider of this very server.
        stack.env.update(PROCEDO_SPID_DEMO_IDP="1", PROCEDO_SPID_BASE_URL=stack.web_url, PROCEDO_SPID_TENANT="capannori")
        stack.prepare()
        stack.env.update(LOAD_REGISTRARS=str(max(1, counts["OPERATORS"] * 3 // 5)),
                         LOAD_POLICE=str(max(1, counts["OPERATORS"] - counts["OPERATORS"] * 3 // 5)),
                         LOAD_READERS=str(counts["READERS"]), LOAD_CITIZENS=str(counts["CITIZENS"]),
                         INITIAL_CASES=os.environ.get("INITIAL_CASES", "300"))
        print(stack.run_python(HERE / "seed.py", str(users_file)).strip().splitlines()[-1], flush=True)
        stack.start()
        print(f"stack up in {time.monotonic() - started:.0f} s: {stack.web_url}; locust for {duration} s", flush=True)
        env = {**stack.env, "LOAD_USERS_FILE": str(users_file), "LOAD_OPERATORS": str(counts["OPERATORS"]),
               "LOAD_READERS": str(counts["READERS"]), "LOAD_CITIZENS": str(counts["CITIZENS"])}
        # The seeded cases queue their own deliveries (protocol, ANPR, documents): let the worker finish
        # them first, so that the run measures the users' work, not the seed's backlog (DRAIN_SECONDS at most).
        drain_until = time.monotonic() + int(os.environ.get("DRAIN_SECONDS", "300"))
        backlog = "?"
        while time.monotonic() < drain_until:
            backlog = stack.psql("SELECT count(*) FROM engine_outboxmessage WHERE status IN ('pending', 'running')",
                                 stack.db)
            if backlog == "0":
                break
            time.sleep(5)
        LOAD["backlog"] = backlog
        print(f"seed backlog: {backlog} outbox messages left when locust starts", flush=True)
        total = sum(counts.values())
        LOAD["before"] = "/".join(f"{x:.2f}" for x in os.getloadavg())
        subprocess.run([str(BIN / "locust"), "-f", str(HERE / "locustfile.py"), "--headless", "-u", str(total),
                        "-r", os.environ.get("SPAWN_RATE", "4"), "-t", f"{duration}s", "--stop-timeout", "10", "--host", stack.web_url,
                        "--csv", str(HERE / "results"), "--only-summary", "--loglevel", "WARNING"],
                       cwd=ROOT, env=env, check=False, timeout=duration + 120)
        LOAD["after"] = "/".join(f"{x:.2f}" for x in os.getloadavg())
        outbox = stack.psql("SELECT status, operation, count(*), left(max(last_error), 160) FROM engine_outboxmessage "
                            "GROUP BY 1, 2 ORDER BY 1, 2", stack.db)
        cases = stack.psql("SELECT status, count(*) FROM cases_case GROUP BY 1 ORDER BY 1", stack.db)
        server = server_times(stack.log_dir / "access-gunicorn.log")
    finally:
        stack.stop()
    stack.drop()
    for extra in ("results_stats_history.csv", "results_exceptions.csv"):
        (HERE / extra).unlink(missing_ok=True)
    write_results(duration, counts, outbox, cases, server)
    return 0


def server_times(access_log: Path) -> list[str]:
    """Time inside gunicorn per kind of request (numbers in paths folded): what the server spent, as
    opposed to what the client waited (queueing for a worker included)."""
    import math
    import re
    import statistics

    spent: dict[str, list[float]] = {}
    for line in access_log.read_text().splitlines() if access_log.exists() else []:
        parts = line.split()
        if len(parts) != 4 or not parts[3].isdigit():
            continue
        key = f"{parts[0]} {re.sub(r'/[0-9]+/', '/{id}/', parts[1])}"
        spent.setdefault(key, []).append(float(parts[3]))
    rows = ["| request | count | server median ms | server p95 ms |", "|---|---:|---:|---:|"]
    for key, values in sorted(spent.items(), key=lambda kv: -len(kv[1]))[:24]:
        values.sort()
        nearest_rank = max(0, math.ceil(len(values) * 0.95) - 1)  # p95 is never below the median
        rows.append(f"| {key} | {len(values)} | {statistics.median(values):.0f} | {values[nearest_rank]:.0f} |")
    return rows


def write_results(duration: int, counts: dict, outbox: str, cases: str, server: list[str]) -> None:
    rows = list(csv.DictReader((HERE / "results_stats.csv").open()))
    lines = [
        "# Load drill", "",
        f"_Run {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M UTC} on {os.cpu_count()} cores (shared with the load generator); "
        f"`DURATION={duration} OPERATORS={counts['OPERATORS']} READERS={counts['READERS']} "
        f"CITIZENS={counts['CITIZENS']} WEB_WORKERS={os.environ.get('WEB_WORKERS', '3')} SPAWN_RATE={os.environ.get('SPAWN_RATE', '4')} bash bench/load/run.sh`_", "",
        "Stack: gunicorn (sync workers), PostgreSQL, Redis broker, one Celery worker with beat, the connector "
        "simulators over HTTP. Citizens sign in with SPID through the demo identity provider and use their own "
        "pages. Targets: 0 errors, p95 < 300 ms for pages.", "",
        "Think times (bench/load/README.md says why): operators 5–20 s between actions and 20–60 s between "
        "opening a task and completing it; readers 5–30 s; citizens 10–40 s between pages and 60–180 s to fill "
        "in a declaration. Client-side figures (locust) include queueing for a worker; server-side ones "
        "(gunicorn access log) are the time inside the worker.", "",
        f"Load average (1/5/15 min) at the start / end of the locust run: {LOAD.get('before', '?')} / "
        f"{LOAD.get('after', '?')}. Outbox messages of the seeded cases still pending or running when locust "
        f"started: {LOAD.get('backlog', '?')}.", "",
        "| endpoint | requests | failures | median ms | p95 ms | p99 ms | max ms | req/s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(f"| {row['Name']} | {row['Request Count']} | {row['Failure Count']} | {row['50%']} | {row['95%']} | "
                     f"{row['99%']} | {float(row['Max Response Time']):.0f} | {float(row['Requests/s']):.1f} |")
    failures = HERE / "results_failures.csv"
    failed = list(csv.DictReader(failures.open())) if failures.exists() else []
    pages = [r for r in rows if r["Name"].startswith("page:")]
    worst_page = max((float(r["95%"]) for r in pages), default=0.0)
    aggregated = next((r for r in rows if r["Name"] == "Aggregated"), None)
    errors = int(aggregated["Failure Count"]) if aggregated else 0
    lines += ["", f"**Errors: {errors}** ({'met' if errors == 0 else 'NOT met'}: 0). "
              f"**Worst page p95: {worst_page:.0f} ms** ({'met' if worst_page < 300 else 'NOT met'}: < 300 ms).", ""]
    if failed:
        lines += ["Failures:", "", "| endpoint | error | occurrences |", "|---|---|---:|"]
        lines += [f"| {f['Method']} {f['Name']} | {f['Error'][:150]} | {f['Occurrences']} |" for f in failed]
        lines.append("")
    if len(server) > 2:
        lines += ["Time inside the server (gunicorn access log), the most frequent requests:", "", *server, ""]
    lines += ["After the run: cases by status `" + cases.replace("\n", "; ") + "`, outbox by status `"
              + outbox.replace("\n", "; ") + "`.", ""]
    (HERE / "RESULTS.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    raise SystemExit(main())
