"""Procedo and Viewflow side by side, same process shape, same machine, one run (issue 9, §3).

The peer (`../shared/peers/viewflow`, or $PROCEDO_VIEWFLOW_PEER) is a Viewflow 2.4 version of a
small residence change: start, register, inspect, an exclusive gateway on the outcome, confirm.
Procedo runs the same shape (bench/residence_like). In one run this script:

1. makes a scratch virtualenv for Viewflow outside pyproject.toml (var/bench-viewflow-venv, or
   $BENCH_VIEWFLOW_VENV) and the `vfbench` PostgreSQL role and database if missing;
2. runs the peer's figure: `bench.py --mode claim --lock sfu -n N --repeat R` (and `--queries 20`);
3. runs Procedo's figure for the same shape: start a case; for each of the three tasks: look it up,
   claim it, complete it; each action its own transaction through the services (Procedo's row
   locks and the audit chain on); same N and repeats, median of the repeats;
4. the HTTP variant: the peer's `bench_http.py` (gunicorn, 2 sync workers) and Procedo's API
   (POST start, claim, complete to gunicorn with 2 sync workers), one client, same N;
5. per-action SQL statements and a per-action breakdown (ms in SpiffWorkflow, DB, audit), and
   case start vs one completion;

and writes it all to bench/RESULTS.md ("Side by side with Viewflow").

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/procedo_bench .venv/bin/python bench/viewflow_side_by_side.py
    (BENCH_VF_N=300 BENCH_VF_REPEAT=3; BENCH_VF_SKIP_PEER=1 runs Procedo's side only)
"""

from __future__ import annotations

import datetime as dt
import http.client
import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("PROCEDO_ENV", "demo")  # benchmarks run on demo secrets, never in production

import django  # noqa: E402

django.setup()

from bench.results import write_section  # noqa: E402

N = int(os.environ.get("BENCH_VF_N", "300"))
REPEAT = int(os.environ.get("BENCH_VF_REPEAT", "3"))
WARMUP = 10
PEER = Path(os.environ.get("PROCEDO_VIEWFLOW_PEER") or ROOT.parent / "shared" / "peers" / "viewflow")
VENV = Path(os.environ.get("BENCH_VIEWFLOW_VENV") or ROOT / "var" / "bench-viewflow-venv")
PG_ADMIN = os.environ.get("BENCH_PG_ADMIN_URL", "postgres://postgres@127.0.0.1:5432/postgres")
PEER_REQUIREMENTS = ["Django>=5.2,<5.3", "django-viewflow>=2.4,<2.5", "psycopg[binary]>=3,<4", "gunicorn"]
PROCESS_ID = "residence_like"
TASKS = (("register", "clerk", {"street": "Via Garibaldi 12"}), ("inspect", "inspector", {"outcome": "positive"}),
         ("confirm", "clerk", {}))


def services():
    """The product entry points the bench drives (one place: they move when the services do)."""
    from cases.services import case_start, work_item_claim, work_item_complete

    return case_start, work_item_claim, work_item_complete


def loadavg() -> str:
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


# --------------------------------------------------------------------------- the Viewflow peer


def _psql(sql: str) -> str:
    return subprocess.run(["psql", PG_ADMIN, "-Atqc", sql], check=True, capture_output=True, text=True).stdout.strip()


def peer_prepare() -> Path:
    """The scratch virtualenv and the vfbench role/database; returns the venv's python."""
    python = VENV / "bin" / "python"
    if not (VENV / "bin" / "gunicorn").exists():
        VENV.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *PEER_REQUIREMENTS], check=True)
    if _psql("SELECT 1 FROM pg_roles WHERE rolname = 'vfbench'") != "1":
        _psql("CREATE ROLE vfbench LOGIN PASSWORD 'vfbench' CREATEDB")
    if _psql("SELECT 1 FROM pg_database WHERE datname = 'vfbench'") != "1":
        _psql("CREATE DATABASE vfbench OWNER vfbench")
    _peer(python, "manage.py", "migrate", "-v", "0")
    return python


def _peer(python: Path, *args: str, env: dict[str, str] | None = None) -> str:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "DJANGO_SETTINGS_MODULE": "vfbench.settings", **(env or {})}
    for key in ("DATABASE_URL", "PROCEDO_ENV"):
        env.pop(key, None)
    done = subprocess.run([str(python), *args], cwd=PEER, env=env, capture_output=True, text=True, check=False)
    if done.returncode:
        raise RuntimeError(f"peer {' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    print(done.stdout, flush=True)
    return done.stdout


def _floats(pattern: str, text: str) -> list[float]:
    match = re.search(pattern, text)
    if match is None:
        raise RuntimeError(f"peer output does not match {pattern!r}:\n{text[-2000:]}")
    return [float(x) for x in match.groups()]


KEYS = ("ms_process", "ms_task", "proc_s", "start", "lookup", "claim", "complete")


def peer_program_round(python: Path) -> dict[str, float]:
    """One round of the peer's programmatic figure (N processes, after its own warm-up)."""
    text = _peer(python, "bench.py", "--mode", "claim", "--lock", "sfu", "-n", str(N), "--repeat", "1")
    return dict(zip(KEYS, _floats(
        r"MEDIAN of \d+ .*?: ([\d.]+) ms/process, ([\d.]+) ms/task, ([\d.]+) proc/s .*?start ([\d.]+) ms, "
        r"lookup ([\d.]+) ms, claim ([\d.]+) ms, complete ([\d.]+) ms", text), strict=True))


def peer_queries(python: Path) -> dict[str, float]:
    text = _peer(python, "bench.py", "--mode", "claim", "--lock", "sfu", "--queries", "20")
    out = {}
    for action in ("start", "lookup", "claim", "complete"):
        data, tx = _floats(rf"{action}\s*: data mean\s*([\d.]+) .*?tx-control mean\s*([\d.]+)", text)
        out[action] = data
        out[action + "_tx"] = tx
    return out


def peer_http_round(python: Path) -> dict[str, float]:
    text = _peer(python, "bench_http.py", "-n", str(N), "--repeat", "1", "--lock", "sfu",
                 env={"VFB_PORT": str(_free_port())})
    return dict(zip(KEYS, _floats(
        r"MEDIAN of \d+ \(HTTP.*?\): ([\d.]+) ms/process, ([\d.]+) ms/task, ([\d.]+) proc/s; start POST ([\d.]+) ms, "
        r"lookup ([\d.]+) ms, assign POST ([\d.]+) ms, execute POST ([\d.]+) ms", text), strict=True))


def median_of(rounds: list[dict[str, float]]) -> dict[str, float]:
    return {k: statistics.median(r[k] for r in rounds) for k in rounds[0]}


_PORTS: list[int] = []


def _free_port() -> int:
    """A free port; from BENCH_VF_PORT_BASE upwards (the first free of its next 10) when set (a session that
    may use only its own range)."""
    import socket

    base = int(os.environ.get("BENCH_VF_PORT_BASE", "0"))
    if base:
        for port in range(base, base + 10):
            if port in _PORTS:
                continue
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", port))
                except OSError:
                    continue
            _PORTS.append(port)
            return port
        _PORTS.clear()
        return _free_port()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------------- Procedo's side


def procedo_setup():
    from accounts.models import Membership, Tenant, User
    from engine.bundles import read_bundle
    from engine.registry import process_version_publish

    process_version_publish(bundle=read_bundle(ROOT / "bench" / PROCESS_ID))
    tenant, _ = Tenant.objects.get_or_create(
        slug="bench-viewflow", defaults={"name": "Comune Confronto", "istat_code": "999005", "belfiore_code": "Z995"}
    )
    users = {}
    for name, role in (("clerk", "registrar"), ("inspector", "police")):
        user, _ = User.objects.get_or_create(username=f"bench.vf.{name}")
        Membership.objects.get_or_create(user=user, tenant=tenant, role=role)
        users[name] = User.objects.get(pk=user.pk)  # fresh object, like the peer's
    return tenant, users


def _fiscal_codes() -> list[str]:
    from common.fiscal_code import check_character

    return [f"RSSMRA80A{day:02d}H501" + check_character(f"RSSMRA80A{day:02d}H501") for day in range(1, 29)]


FISCAL_CODES = _fiscal_codes()


def _start_data(i: int) -> dict[str, str]:
    return {"fiscal_code": FISCAL_CODES[i % len(FISCAL_CODES)], "street": f"Via Roma {i}",
            "request_date": dt.date(2025, 1, 1 + i % 28).isoformat()}


def _lookup(case_id: int, bpmn_id: str) -> int:
    from cases.models import WorkItem

    return WorkItem.objects.filter(case_id=case_id, bpmn_id=bpmn_id, status="open").values_list("pk", flat=True).get()


def one_case(i: int, tenant, users, timer) -> int:
    case_start, work_item_claim, work_item_complete = services()
    with timer("start"):
        case = case_start(tenant=tenant, user=users["clerk"], process_id=PROCESS_ID, data=_start_data(i))
    for bpmn_id, actor, data in TASKS:
        with timer("lookup"):
            pk = _lookup(case.pk, bpmn_id)
        with timer("claim"):
            work_item_claim(work_item_id=pk, tenant=tenant, user=users[actor])
        with timer("complete"):
            work_item_complete(work_item_id=pk, tenant=tenant, user=users[actor], data=data)
    return case.pk


class Stopwatch:
    def __init__(self) -> None:
        self.t: dict[str, list[float]] = {k: [] for k in ("start", "lookup", "claim", "complete")}

    def __call__(self, name: str):
        watch = self

        class _Ctx:
            def __enter__(self):
                self.t0 = time.perf_counter()

            def __exit__(self, *exc):
                watch.t[name].append(time.perf_counter() - self.t0)

        return _Ctx()


def verify(case_ids: list[int]) -> None:
    from cases.models import Case, WorkItem

    closed = Case.objects.filter(pk__in=case_ids, status="closed").count()
    done = WorkItem.objects.filter(case_id__in=case_ids, status="completed").count()
    assert closed == len(case_ids) and done == 3 * len(case_ids), (closed, done, len(case_ids))


def procedo_program_round(tenant, users, r: int) -> dict[str, float]:
    """One round of Procedo's programmatic figure (warm-up, then N processes)."""
    for i in range(WARMUP):
        one_case(i, tenant, users, Stopwatch())
    watch = Stopwatch()
    ids = []
    t0 = time.perf_counter()
    for i in range(N):
        ids.append(one_case(i, tenant, users, watch))
    wall = time.perf_counter() - t0
    verify(ids)
    res = {"ms_process": wall / N * 1000, "ms_task": wall / (3 * N) * 1000, "proc_s": N / wall,
           **{k: statistics.mean(v) * 1000 for k, v in watch.t.items()}}
    print(f"  procedo run {r + 1}: {res['ms_process']:.2f} ms/process, {res['ms_task']:.2f} ms/task | start "
          f"{res['start']:.2f} lookup {res['lookup']:.2f} claim {res['claim']:.2f} complete {res['complete']:.2f}"
          f" | loadavg {loadavg()}", flush=True)
    return res


def procedo_breakdown(tenant, users, cases: int = 40):
    from bench.breakdown import Breakdown

    with Breakdown() as breakdown:
        for i in range(cases):
            one_case(i, tenant, users, breakdown.action)
    return breakdown


# --------------------------------------------------------------------------- Procedo over HTTP


def _gunicorn(port: int, workers: int = 2) -> subprocess.Popen:
    env = {**os.environ, "DEBUG": "0", "LOG_LEVEL": "WARNING", "DATABASE_CONN_MAX_AGE": "600"}
    proc = subprocess.Popen([str(ROOT / ".venv/bin/gunicorn"), "config.wsgi", "-b", f"127.0.0.1:{port}", "-w",
                             str(workers), "--log-level", "warning"], cwd=ROOT, env=env)
    for _ in range(150):
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", "/api/schema/")
            conn.getresponse().read()
            return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("gunicorn did not start")


class ProcedoHttp:
    """Procedo's REST API on gunicorn (2 sync workers), one client; `round` runs N processes."""

    def __init__(self, tenant, users) -> None:
        from rest_framework.authtoken.models import Token

        self.tokens = {name: Token.objects.get_or_create(user=user)[0].key for name, user in users.items()}
        port = _free_port()
        self.server = _gunicorn(port)
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def close(self) -> None:
        self.conn.close()
        self.server.terminate()
        self.server.wait(15)

    def post(self, path: str, body: dict, actor: str) -> dict:
        self.conn.request("POST", path, body=json.dumps(body), headers={
            "Authorization": f"Token {self.tokens[actor]}", "Content-Type": "application/json"})
        response = self.conn.getresponse()
        payload = response.read()
        assert response.status in (200, 201), (path, response.status, payload[:300])
        return json.loads(payload)

    def one(self, i: int, t: dict[str, list[float]]) -> int:
        from django.db import connection

        t0 = time.perf_counter()
        case_id = self.post("/api/v1/cases/", {"process": PROCESS_ID, "data": _start_data(i)}, "clerk")["id"]
        t["start"].append(time.perf_counter() - t0)
        for bpmn_id, actor, data in TASKS:
            t0 = time.perf_counter()
            with connection.cursor() as cursor:  # as the peer: the next task id by one direct query
                cursor.execute("SELECT id FROM cases_workitem WHERE case_id = %s AND bpmn_id = %s AND status = 'open'",
                               [case_id, bpmn_id])
                pk = cursor.fetchone()[0]
            t1 = time.perf_counter()
            self.post(f"/api/v1/tasks/{pk}/claim/", {}, actor)
            t2 = time.perf_counter()
            self.post(f"/api/v1/tasks/{pk}/complete/", {"data": data}, actor)
            t3 = time.perf_counter()
            t["lookup"].append(t1 - t0)
            t["claim"].append(t2 - t1)
            t["complete"].append(t3 - t2)
        return case_id

    def round(self, r: int) -> dict[str, float]:
        for i in range(WARMUP):
            self.one(i, {k: [] for k in ("start", "lookup", "claim", "complete")})
        t = {k: [] for k in ("start", "lookup", "claim", "complete")}
        ids = []
        t0 = time.perf_counter()
        for i in range(N):
            ids.append(self.one(i, t))
        wall = time.perf_counter() - t0
        verify(ids)
        res = {"ms_process": wall / N * 1000, "ms_task": wall / (3 * N) * 1000, "proc_s": N / wall,
               **{k: statistics.mean(v) * 1000 for k, v in t.items()}}
        print(f"  procedo HTTP run {r + 1}: {res['ms_process']:.2f} ms/process, {res['ms_task']:.2f} ms/task "
              f"| loadavg {loadavg()}", flush=True)
        return res


# --------------------------------------------------------------------------- report


def _row(label: str, f: dict[str, float]) -> str:
    return (f"| {label} | {f['ms_process']:.1f} | **{f['ms_task']:.2f}** | {f['proc_s']:.1f} | {f['start']:.2f} | "
            f"{f['lookup']:.2f} | {f['claim']:.2f} | {f['complete']:.2f} |")


def main() -> None:
    load_before = loadavg()
    python = None
    if os.environ.get("BENCH_VF_SKIP_PEER") != "1":
        if not (PEER / "bench.py").exists():
            raise SystemExit(f"Viewflow peer not found at {PEER} (set PROCEDO_VIEWFLOW_PEER)")
        python = peer_prepare()
    tenant, users = procedo_setup()
    # Interleaved rounds (peer, Procedo, peer, Procedo, ...): the machine's load drifts over minutes, and
    # each side's median then comes from the same stretches of time; the per-round ratios are kept too.
    peer_rounds, program_rounds, peer_http_rounds, http_rounds = [], [], [], []
    for r in range(REPEAT):
        if python:
            peer_rounds.append(peer_program_round(python))
        program_rounds.append(procedo_program_round(tenant, users, r))
    breakdown = procedo_breakdown(tenant, users)
    api = ProcedoHttp(tenant, users)
    try:
        for r in range(REPEAT):
            if python:
                peer_http_rounds.append(peer_http_round(python))
            http_rounds.append(api.round(r))
    finally:
        api.close()
    program, over_http = median_of(program_rounds), median_of(http_rounds)
    peer = None
    if python:
        peer = {"program": median_of(peer_rounds), "http": median_of(peer_http_rounds), "queries": peer_queries(python)}
    load_after = loadavg()

    head = ("| side | ms/process | ms/task | processes/s | start ms | lookup ms | claim ms | complete ms |\n"
            "|---|---|---|---|---|---|---|---|")
    rows = [head]
    http_rows = [head.replace("claim ms | complete ms", "claim POST ms | complete POST ms")]
    if peer:
        rows.append(_row("Viewflow 2.4 (claim, select_for_update)", peer["program"]))
        http_rows.append(_row("Viewflow 2.4 HTTP (session, 2 sync workers)", peer["http"]))
    rows.append(_row("Procedo (claim, own row locks, audit chain)", program))
    http_rows.append(_row("Procedo HTTP API (token, 2 sync workers)", over_http))

    def ratio(key: str) -> str:
        if not peer:
            return "(peer not run)"
        r = peer[key]["ms_task"] / program["ms_task"] if key == "program" else peer[key]["ms_task"] / over_http["ms_task"]
        verdict = "faster" if r >= 1 else "slower"
        pairs = (zip(peer_rounds, program_rounds, strict=True) if key == "program"
                 else zip(peer_http_rounds, http_rounds, strict=True))
        rounds = ", ".join(f"{a['ms_task'] / b['ms_task']:.2f}x" for a, b in pairs)
        return f"**{r:.2f}x** (Viewflow ms/task ÷ Procedo ms/task: Procedo is {verdict}; round by round: {rounds})"

    queries = ""
    if peer:
        q = peer["queries"]
        queries = "\n".join([
            "| action | Viewflow data + tx statements | Procedo data + tx statements |",
            "|---|---|---|",
            *(f"| {a} | {q[a]:.1f} + {q[a + '_tx']:.1f} | {breakdown.mean(a, 'data_sql'):.1f} + "
              f"{breakdown.mean(a, 'tx_sql'):.1f} |" for a in ("start", "lookup", "claim", "complete")),
        ])
    start_vs_complete = program["start"] / program["complete"]
    body = f"""
Command: `make bench` (or `DATABASE_URL=... .venv/bin/python bench/viewflow_side_by_side.py`), one run, one
client, PostgreSQL on the same 2 cores; N={N} processes x {REPEAT} rounds (median), {WARMUP} warm-up processes
each, the two sides' rounds interleaved (Viewflow, Procedo, Viewflow, ...). Shape on both sides: start, register, inspect, exclusive gateway on the outcome, confirm; per human task
look up, claim, complete, each action its own transaction. Viewflow: the peer's `bench.py --mode claim --lock sfu`
and `bench_http.py --lock sfu` in a scratch venv ({", ".join(PEER_REQUIREMENTS)}); Procedo: `bench/{PROCESS_ID}`
through `cases.services` (row locks, projection, audit chain on) and through the REST API.
Load average before / after: {load_before} / {load_after}.

Programmatic (no HTTP):

{chr(10).join(rows)}

Ratio per task: {ratio("program")}. Target: Procedo at least 1.5x faster; floor: not slower.

Over HTTP (gunicorn 2 sync workers, one client, lookup by one direct SQL query on both sides):

{chr(10).join(http_rows)}

Ratio per task over HTTP: {ratio("http")}.

Case start vs one completion (programmatic): start {program["start"]:.2f} ms, complete {program["complete"]:.2f} ms:
**{start_vs_complete:.2f}x** (target: at most 1.5x).

SQL statements per action (steady state; Viewflow: the peer's `--queries 20`; Procedo: 40 instrumented processes):

{queries or "(peer not run)"}

Per-action breakdown, Procedo (40 processes, instrumented by `bench/breakdown.py`, so a little slower than the
clean figures above; "other Python" = total − SpiffWorkflow − DB, and includes the audit's Python part):

{breakdown.table(["start", "lookup", "claim", "complete"])}
"""
    write_section("Side by side with Viewflow", body)


if __name__ == "__main__":
    main()
