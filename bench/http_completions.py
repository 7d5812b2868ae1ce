"""Task completions per second through the HTTP API (gunicorn, PostgreSQL).

Prepares cases whose first task is open, starts gunicorn with W sync workers on
127.0.0.1, and has C client threads (keep-alive connections) POST
/api/v1/tasks/{id}/complete/ for distinct tasks. Reports throughput and latency.
Client and server share this machine's cores.

    DATABASE_URL=postgres://.../procedo_bench python bench/http_completions.py
"""

from __future__ import annotations

import http.client
import json
import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("PROCEDO_ENV", "demo")  # benchmarks run on demo secrets, never in production

import django  # noqa: E402

django.setup()

from bench.results import percentile, write_section  # noqa: E402

PORT = int(os.environ.get("BENCH_PORT", "8765"))
TASKS_PER_RUN = int(os.environ.get("BENCH_HTTP_TASKS", "1500"))
CLIENT_COUNTS = [int(c) for c in os.environ.get("BENCH_HTTP_CLIENTS", "3,6").split(",")]
WORKER_COUNTS = [int(w) for w in os.environ.get("BENCH_HTTP_WORKERS", "2,3,4").split(",")]
THREADS = int(os.environ.get("BENCH_HTTP_THREADS", "1"))  # >1: gunicorn gthread workers
# sync (default; no keep-alive: one TCP connection per request) or gthread (keep-alive, BENCH_HTTP_THREADS each)
WORKER_CLASS = os.environ.get("BENCH_HTTP_WORKER_CLASS", "gthread" if THREADS > 1 else "sync")
WRITE = os.environ.get("BENCH_HTTP_WRITE", "1") != "0"  # 0: print the table only (A/B runs)
TICKS = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pids: list[int]) -> float:
    """User + system CPU of these processes so far (Linux /proc), 0 for one that is gone."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / TICKS


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def prepare(n: int) -> tuple[str, list[int]]:
    from rest_framework.authtoken.models import Token

    from accounts.models import Membership, Tenant, User
    from cases.models import WorkItem
    from cases.services import case_start
    from engine.bundles import read_bundle
    from engine.registry import process_version_publish

    process_version_publish(bundle=read_bundle(ROOT / "bench" / "three_tasks"))
    tenant, _ = Tenant.objects.get_or_create(
        slug="bench-http", defaults={"name": "Comune HTTP", "istat_code": "999003", "belfiore_code": "Z997"}
    )
    user, _ = User.objects.get_or_create(username="bench.http")
    Membership.objects.get_or_create(user=user, tenant=tenant, role="registrar")
    token, _ = Token.objects.get_or_create(user=user)
    open_first = list(
        WorkItem.objects.filter(tenant=tenant, status="open", bpmn_id="first").values_list("pk", flat=True)[:n]
    )
    for _ in range(n - len(open_first)):
        case = case_start(tenant=tenant, user=user, process_id="three_tasks", data={})
        open_first.append(WorkItem.objects.get(case=case, bpmn_id="first").pk)
    return token.key, open_first


def run_load(token: str, ids: list[int], clients: int) -> tuple[float, list[float], dict[int, int]]:
    work: queue.Queue[int] = queue.Queue()
    for pk in ids:
        work.put(pk)
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    lock = threading.Lock()
    body = json.dumps({"data": {"ok": True, "note": "bench"}})
    headers = {"Authorization": f"Token {token}", "Content-Type": "application/json"}

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)
        while True:
            try:
                pk = work.get_nowait()
            except queue.Empty:
                break
            t0 = time.perf_counter()
            conn.request("POST", f"/api/v1/tasks/{pk}/complete/", body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            elapsed = time.perf_counter() - t0
            with lock:
                latencies.append(elapsed)
                statuses[response.status] = statuses.get(response.status, 0) + 1
        conn.close()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - start, latencies, statuses


def start_server(workers: int) -> subprocess.Popen:
    env = {**os.environ, "DEBUG": "0", "LOG_LEVEL": "WARNING", "DATABASE_CONN_MAX_AGE": "600"}
    proc = subprocess.Popen(
        [str(ROOT / ".venv/bin/gunicorn"), "config.wsgi", "-b", f"127.0.0.1:{PORT}", "-w", str(workers),
         "--worker-class", WORKER_CLASS, "--threads", str(THREADS), "--log-level", "warning"],
        cwd=ROOT, env=env,
    )
    for _ in range(100):
        try:
            conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=1)
            conn.request("GET", "/api/schema/")
            conn.getresponse().read()
            return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("gunicorn did not start")


def main() -> None:
    from django.db import connection

    rows = []
    load_before = os.getloadavg()
    for workers in WORKER_COUNTS:
        for clients in CLIENT_COUNTS:
            token, ids = prepare(TASKS_PER_RUN)
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE cases_workitem")
            server = start_server(workers)
            try:
                run_load(token, ids[:50], clients)  # warm-up (connections, caches)
                worker_pids = _children(server.pid)
                with connection.cursor() as cursor:  # the workers' PostgreSQL backends (persistent connections)
                    cursor.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                                   "AND pid <> pg_backend_pid() AND backend_type = 'client backend'")
                    backend_pids = [r[0] for r in cursor.fetchall()]
                db_cpu = _cpu_seconds(backend_pids)
                server_cpu, client_cpu = _cpu_seconds(worker_pids), time.process_time()
                elapsed, latencies, statuses = run_load(token, ids[50:], clients)
                server_cpu = _cpu_seconds(worker_pids) - server_cpu
                db_cpu = _cpu_seconds(backend_pids) - db_cpu
                client_cpu = time.process_time() - client_cpu
            finally:
                server.terminate()
                server.wait(10)
            ok = statuses.get(200, 0)
            row = (
                f"| {workers} | {clients} | {ok} | {ok / elapsed:.0f} | {percentile(latencies, 50) * 1000:.1f} | "
                f"{percentile(latencies, 95) * 1000:.1f} | {server_cpu / max(ok, 1) * 1000:.2f} | "
                f"{db_cpu / max(ok, 1) * 1000:.2f} | "
                f"{client_cpu / max(ok, 1) * 1000:.2f} | {statuses} |"
            )
            print(row, f"load {os.getloadavg()[0]:.2f}", flush=True)
            rows.append(row)
    load_after = os.getloadavg()
    body = f"""
Command: `make bench` (or `DATABASE_URL=... .venv/bin/python bench/http_completions.py`). gunicorn {WORKER_CLASS}
workers on 127.0.0.1, PostgreSQL, client threads (closed loop) on the same 2-core machine; each
request completes a distinct task (validation, lock, engine step, projection, audit). Server CPU: user + system
time of the gunicorn workers per completion (/proc), PostgreSQL CPU: their database backends' (WAL writer and
checkpointer not counted), client CPU: the load generator's. 300 completions/s on 2 cores leave 6.7 ms of CPU for
all three together.
Load average before / after: {"/".join(f"{x:.2f}" for x in load_before)} / {"/".join(f"{x:.2f}" for x in load_after)}.

| server processes (threads: {THREADS}) | clients | completions | completions/s | p50 ms | p95 ms | server CPU ms/completion | PostgreSQL CPU ms/completion | client CPU ms/completion | statuses |
|---|---|---|---|---|---|---|---|---|---|
{chr(10).join(rows)}

Target (issue 9): at least 300 completions/s, p95 under 50 ms.
"""
    if WRITE:
        write_section("HTTP task completions", body)
    else:
        print(body)


if __name__ == "__main__":
    main()
