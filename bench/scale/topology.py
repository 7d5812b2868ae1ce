"""Fault run on the production topology (issue 16): nginx (the shipped deploy/nginx configuration, TLS)
in front of two gunicorn web processes, two Celery workers and one beat on RabbitMQ (a vhost of its
own on 127.0.0.1:5672), PostgreSQL, and the connector simulators over HTTP; every process is a
process group of its own (bench/stack.py).

A mixed load runs for SCALE_FAULT_SECONDS (300): residence-change cases opened and worked (every
mutating call with an Idempotency-Key, which lets nginx resend it to the other web process) by registrars and police officers (each completion of a registration
calls ANPR and renders and signs a deed), cases with a 30-second timer, and readers on inboxes and
case pages. In the middle one worker and one web process are SIGKILLed (the whole group) and not
restarted. Then the cases are driven to their end (bench/faults/run.py's `drive`) and checked:

- every outbox message done, none pending, running or failed; ANPR (the simulator's own log) applied
  exactly one register change per case, and the HTTP requests it received are counted too (a
  repeat of the same idOperazioneComune is a replay the platform answers from its log);
- every deed rendered once per case; every timer fired once (one "Scaduto un termine" system
  event per timer case) and every timer case closed;
- the answers the clients saw, by status: 5xx after nginx's own retries (the figure that must be 0),
  and how many calls the clients had to retry.

CPU-seconds of every process group (web, workers, beat, nginx) and of the database's backends are
sampled from /proc during the run (bench/scale/cost.py turns them into a cost per case).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import requests
import urllib3

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from bench.faults.run import POSITIVE, REGISTER_CHANGES, REGISTRATION, Api, drive, log  # noqa: E402
from bench.scale import nginx  # noqa: E402
from bench.stack import ROOT, Stack, free_port  # noqa: E402

HERE = Path(__file__).resolve().parent
AMQP_HOST = os.environ.get("SCALE_AMQP_HOST", "127.0.0.1:5672")
QUEUES = "engine,connectors,documents,default"
urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)  # the run's own self-signed certificate


# --- clients through the proxy ---------------------------------------------------------------------


class Answers:
    """Every answer the clients got, by (method, endpoint, status); shared by the load threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.counts: Counter = Counter()
        self.retried_calls = 0
        self.first_5xx: list[str] = []
        self.replayed: Counter = Counter()  # answers marked Idempotent-Replayed, by endpoint

    def add(self, method: str, path: str, status: str) -> None:
        endpoint = re.sub(r"/\d+/", "/{id}/", path.split("?")[0])
        with self.lock:
            self.counts[(method, endpoint, status)] += 1
            if status.startswith("5") and len(self.first_5xx) < 20:
                self.first_5xx.append(f"{time.strftime('%H:%M:%S')} {method} {path} {status}")


class ProxiedApi(Api):
    """bench/faults' API client, through nginx over TLS: each answer counted, a case start sent with an
    Idempotency-Key kept across its retries, retries only after 5xx or a broken connection."""

    def __init__(self, stack: Stack, users: dict, *, https_port: int, answers: Answers) -> None:
        super().__init__(stack, users)
        self.base = f"https://127.0.0.1:{https_port}/api/v1"
        self.answers = answers
        self.session = requests.Session()
        self.session.headers.update({"Host": nginx.SERVER_NAME, "X-Procedo-Tenant": self.tenant})

    def call(self, role: str, method: str, path: str, json=None, ok=(200, 201), tries: int = 30):
        headers = {"Authorization": f"Token {self.tokens[role]}"}
        if method in ("POST", "PUT", "PATCH", "DELETE"):
            # Every mutating call: the same key for every retry of this call, so nginx may resend it to the
            # other web process and the client may repeat it (accounts/idempotency.py).
            headers["Idempotency-Key"] = f"scale-{uuid.uuid4().hex}"
        for attempt in range(tries):
            try:
                # verify per request: a session-level False loses to REQUESTS_CA_BUNDLE in the environment
                r = self.session.request(method, self.base + path, json=json, timeout=60, headers=headers, verify=False)
                self.answers.add(method, path, str(r.status_code))
                if r.headers.get("Idempotent-Replayed") == "true":
                    with self.answers.lock:
                        self.answers.replayed[f"{method} {re.sub(r'/[0-9]+/', '/{id}/', path.split('?')[0])}"] += 1
                if r.status_code in ok:
                    return r.json()
                if r.status_code < 500 and r.status_code not in (409, 423):
                    raise RuntimeError(f"{method} {path}: {r.status_code} {r.text[:300]}")
            except requests.RequestException as exc:
                self.answers.add(method, path, f"connection error ({type(exc).__name__})")
            if attempt == 0:
                with self.answers.lock:
                    self.answers.retried_calls += 1
            self.failed_calls += 1
            time.sleep(1)
        raise RuntimeError(f"{method} {path}: no success after {tries} tries")


# --- CPU accounting ----------------------------------------------------------------------------------

_TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> tuple[int, float] | None:
    """(process group, CPU seconds of the process and its reaped children)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return int(fields[2]), (int(fields[11]) + int(fields[12])) / _TICK  # utime + stime (children are sampled themselves)


class CpuSampler(threading.Thread):
    """Samples, every second, the CPU time of each process group and of the database's backends; a
    process that dies (SIGKILL) keeps the last value seen."""

    def __init__(self, stack: Stack, groups: dict[str, int]) -> None:
        super().__init__(daemon=True)
        self.stack, self.groups = stack, groups
        self.per_pid: dict[tuple[str, int], float] = {}
        self.stop_event = threading.Event()

    def add_group(self, name: str, pgid: int) -> None:
        self.groups[name] = pgid

    def sample(self) -> None:
        by_pgid = {pgid: name for name, pgid in self.groups.items()}
        marker = str(self.stack.var_dir).encode()
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            got = _stat(int(entry.name))
            if got is None:
                continue
            name = by_pgid.get(got[0])
            if name is None:
                # LibreOffice converters start a session of their own: found by the run's folder in their command line.
                try:
                    if marker not in (entry / "cmdline").read_bytes():
                        continue
                except OSError:
                    continue
                name = "documents converter"
            key = (name, int(entry.name))
            self.per_pid[key] = max(self.per_pid.get(key, 0.0), got[1])
        try:
            pids = self.stack.psql(f"SELECT pid FROM pg_stat_activity WHERE datname = '{self.stack.db}'").split()
        except subprocess.CalledProcessError:
            pids = []
        for pid in pids:
            got = _stat(int(pid))
            if got:
                key = ("postgresql", int(pid))
                self.per_pid[key] = max(self.per_pid.get(key, 0.0), got[1])

    def run(self) -> None:
        while not self.stop_event.wait(1.0):
            self.sample()

    def totals(self) -> dict[str, float]:
        out: Counter = Counter()
        for (name, _pid), seconds in self.per_pid.items():
            out[name.rstrip("0123456789")] += seconds
        return dict(out)


# --- the run -------------------------------------------------------------------------------------------


def rabbit_vhost(name: str, create: bool) -> str:
    """A vhost of our own, so the deploy tests' queue clean-ups and this run never touch each other."""
    if create:
        subprocess.run(["rabbitmqctl", "add_vhost", name], capture_output=True, check=False)
        subprocess.run(["rabbitmqctl", "set_permissions", "-p", name, "guest", ".*", ".*", ".*"], capture_output=True,
                       check=True)
    else:
        subprocess.run(["rabbitmqctl", "delete_vhost", name], capture_output=True, check=False)
    return f"amqp://guest:guest@{AMQP_HOST}/{name}"


def main() -> dict:
    duration = int(os.environ.get("SCALE_FAULT_SECONDS", "300"))
    settle = float(os.environ.get("SCALE_FAULT_SETTLE", "600"))
    vhost = os.environ.get("SCALE_VHOST", "procedo_scale")
    broker = rabbit_vhost(vhost, create=True)
    stack = Stack(db=os.environ.get("SCALE_FAULT_DB", "procedo_h9_faults"), broker_url=broker, web_workers=2,
                  worker_concurrency=2)
    # SCALE_PORTS: four ports (web1, web2, nginx http, nginx https) of a range given to this run; else free ones.
    ports = [int(p) for p in os.environ.get("SCALE_PORTS", "").split(",") if p.strip()] or [free_port() for _ in range(4)]
    web_ports = ports[:2]
    http_port, https_port = ports[2], ports[3]
    stack.env.update({
        "ALLOWED_HOSTS": f"127.0.0.1,localhost,{nginx.SERVER_NAME}",
        "PROCEDO_TRUSTED_PROXY_COUNT": "1", "SECURE_PROXY_SSL_HEADER": "X-Forwarded-Proto",
        "PROCEDO_PUBLIC_BASE_URL": f"https://{nginx.SERVER_NAME}",
    })
    answers = Answers()
    result: dict = {"duration": duration}
    nginx_proc = None
    sampler = None
    try:
        stack.prepare()
        stack.manage("shell", "-c", "from pathlib import Path; from engine.bundles import read_bundle; "
                     "from engine.registry import process_version_publish; "
                     f"process_version_publish(bundle=read_bundle(Path('{HERE / 'timer_case'}')))")
        users_file = stack.var_dir / "users.json"
        stack.env.update(LOAD_REGISTRARS="4", LOAD_POLICE="3", LOAD_READERS="3", LOAD_CITIZENS="0",
                         LOAD_SUPERVISORS="1", INITIAL_CASES="0")
        stack.run_python(ROOT / "bench" / "load" / "seed.py", str(users_file))
        users = json.loads(users_file.read_text())
        stack.start_simulators()
        for i, port in enumerate(web_ports, 1):
            stack.start_web(f"web{i}", port)
        for i in (1, 2):
            stack.start_worker(f"worker{i}", queues=QUEUES, beat=False)
        stack.start_beat()
        folder = stack.var_dir / "nginx"
        folder.mkdir()
        main_conf = nginx.render(folder, upstreams=web_ports, http_port=http_port, https_port=https_port,
                                 var_dir=stack.var_dir)
        check = subprocess.run([nginx.nginx_binary(), "-t", "-p", str(folder), "-c", str(main_conf)], capture_output=True,
                               text=True)
        if check.returncode:
            raise RuntimeError("nginx -t: " + check.stderr)
        nginx_proc = subprocess.Popen([nginx.nginx_binary(), "-p", str(folder), "-c", str(main_conf)],
                                      start_new_session=True, stderr=(folder / "stderr.log").open("wb"))
        nginx.wait_port(https_port, nginx_proc, folder / "error.log")
        result["db_bytes_before"] = db_bytes(stack)
        result["media_bytes_before"] = media_bytes(stack)
        sampler = CpuSampler(stack, {name: proc.pid for name, proc in stack.procs.items()} | {"nginx": nginx_proc.pid})
        sampler.start()
        time.sleep(5)  # workers ready
        result.update(run_load(stack, users, https_port, answers, duration))
        api = ProxiedApi(stack, users, https_port=https_port, answers=answers)
        log(f"draining: {len(result['residence_cases'])} residence cases, {len(result['timer_cases'])} timer cases")
        t0 = time.monotonic()
        states, incidents = drive(api, result["residence_cases"], settle)
        result["drain_seconds"] = time.monotonic() - t0
        result["states"] = Counter(f"{s[0]}/{s[1]}" for s in states.values())
        result["incidents"] = len(incidents)
        wait_quiet(stack, result["timer_cases"], settle)
        sampler.sample()
        result["checks"] = verify(stack, result)
        result["cpu_seconds"] = sampler.totals()
        result["answers"] = {" ".join(k): v for k, v in sorted(answers.counts.items())}
        result["first_5xx"] = answers.first_5xx
        result["retried_calls"] = answers.retried_calls
        result["replayed"] = dict(answers.replayed)
        result["proxy_retries"] = proxy_retries(folder / "access.log")
        result["db_bytes"] = db_bytes(stack)
        result["media_bytes"] = media_bytes(stack)
    finally:
        if sampler:
            sampler.stop_event.set()
        if nginx_proc:
            try:
                os.killpg(nginx_proc.pid, 15)
                nginx_proc.wait(10)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                pass
        stack.stop()
        rabbit_vhost(vhost, create=False)
    if os.environ.get("SCALE_KEEP_DB") != "1":
        stack.drop()
    return result


def run_load(stack: Stack, users: dict, https_port: int, answers: Answers, duration: int) -> dict:
    stop = threading.Event()
    residence: list[int] = []
    timers: list[int] = []
    errors: list[str] = []
    done = Counter()

    def api() -> ProxiedApi:
        return ProxiedApi(stack, users, https_port=https_port, answers=answers)

    def guarded(fn):
        def loop() -> None:
            client = api()
            while not stop.is_set():
                try:
                    fn(client)
                except Exception as exc:  # noqa: BLE001 - counted, the load goes on
                    errors.append(f"{fn.__name__}: {exc}"[:300])
                    time.sleep(1)
        return loop

    def opener(client: ProxiedApi) -> None:
        residence.append(client.open_case())
        done["case starts"] += 1
        stop.wait(3)

    def timer_opener(client: ProxiedApi) -> None:
        body = client.call("registrar", "POST", "/cases/", {"process": "timer_case", "data": {}})
        timers.append(body["id"])
        done["timer case starts"] += 1
        stop.wait(6)

    def worker_for(role: str, bpmn_id: str, data: dict):
        def operator(client: ProxiedApi) -> None:
            body = client.call(role, "GET", "/tasks/?scope=available&limit=20")
            items = [t for t in body.get("results", []) if t["bpmn_id"] == bpmn_id and not t.get("assignee")]
            if not items:
                stop.wait(2)
                return
            item = items[0]
            claimed = client.call(role, "POST", f"/tasks/{item['id']}/claim/", ok=(200, 409))
            if "error" in claimed:  # a colleague took it first
                return
            client.call(role, "POST", f"/tasks/{item['id']}/complete/", {"data": data}, ok=(200, 409))
            done[f"{bpmn_id} completions"] += 1
            stop.wait(1)
        operator.__name__ = f"operator_{bpmn_id}"
        return operator

    def reader(client: ProxiedApi) -> None:
        client.call("registrar", "GET", "/tasks/?scope=mine&limit=50")
        if residence:
            client.call("registrar", "GET", f"/cases/{residence[len(residence) // 2]}/")
        client.call("registrar", "GET", "/cases/?status=open&limit=25")
        done["reads"] += 3
        stop.wait(1)

    threads = [threading.Thread(target=guarded(fn), daemon=True) for fn in
               [opener, opener, timer_opener, worker_for("registrar", "registration", REGISTRATION),
                worker_for("registrar", "registration", REGISTRATION), worker_for("police", "police_verification", POSITIVE),
                reader, reader]]
    for t in threads:
        t.start()
    log(f"load for {duration} s")
    time.sleep(duration / 2)
    # Kill while a delivery is in flight if one shows up within 30 s (as bench/faults phase a does).
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        running = stack.psql("SELECT count(*) FROM engine_outboxmessage WHERE status = 'running'", stack.db)
        if running not in ("", "0"):
            break
        time.sleep(0.2)
    stack.kill("worker1")
    stack.kill("web1")
    killed_at = time.strftime("%H:%M:%S")
    log(f"SIGKILL worker1 (outbox deliveries running: {running}) and web1 at {killed_at}")
    time.sleep(duration / 2)
    stop.set()
    for t in threads:
        t.join(90)
    log(f"load done: {dict(done)}; errors {len(errors)}")
    return {"residence_cases": list(residence), "timer_cases": list(timers), "done": dict(done),
            "load_errors": errors[:20], "n_load_errors": len(errors), "killed_at": killed_at,
            "running_at_kill": int(running or 0)}


def wait_quiet(stack: Stack, timer_cases: list[int], timeout: float) -> None:
    """Until no outbox message is pending or running and every timer case is closed."""
    deadline = time.monotonic() + timeout
    ids = ",".join(map(str, timer_cases)) or "0"
    while time.monotonic() < deadline:
        busy = stack.psql("SELECT count(*) FROM engine_outboxmessage WHERE status IN ('pending', 'running')", stack.db)
        open_timers = stack.psql(f"SELECT count(*) FROM cases_case WHERE id IN ({ids}) AND status = 'open'", stack.db)
        if busy == "0" and open_timers == "0":
            return
        time.sleep(2)


def verify(stack: Stack, result: dict) -> dict:
    db = stack.db
    q = lambda sql: stack.psql(sql, db)  # noqa: E731
    residence = ",".join(map(str, result["residence_cases"])) or "0"
    timers = ",".join(map(str, result["timer_cases"])) or "0"
    app = stack.simulators["anpr"].app
    with app.lock:
        applied = [op_id for (_sender, op_id), (op, _answer) in app.operations.items() if op in REGISTER_CHANGES]
    requests_per_op: Counter = Counter()
    for r in app.recorded("POST"):
        body = r.body.decode("utf-8", "replace")
        op = re.search(r"operazioneRichiesta>([^<]+)<", body)
        op_id = re.search(r"idOperazioneComune>([^<]+)<", body)
        if op and op_id and op.group(1) in REGISTER_CHANGES:
            requests_per_op[op_id.group(1)] += 1
    outbox = q("SELECT operation || ':' || status || '=' || count(*) FROM engine_outboxmessage GROUP BY operation, status "
               "ORDER BY 1").split()
    anpr_done = int(q("SELECT count(*) FROM engine_outboxmessage WHERE operation = 'anpr.mutazione_residenza' AND status = 'done'"))
    deeds = q(f"SELECT count(*), count(DISTINCT case_id), coalesce(max(n), 0) FROM (SELECT case_id, count(*) n FROM "
              f"documents_document WHERE case_id IN ({residence}) AND kind <> '' AND signed GROUP BY case_id, kind) s").split("|")
    fired = q(f"SELECT coalesce(min(n), 0) || '|' || coalesce(max(n), 0) || '|' || count(*) FROM (SELECT object_id, count(*) n "
              f"FROM audit_auditevent WHERE action = 'system' AND object_type = 'case' AND object_id IN "
              f"(SELECT id::text FROM cases_case WHERE id IN ({timers})) AND extra ? 'due' GROUP BY object_id) s").split("|")
    timer_closed = int(q(f"SELECT count(*) FROM cases_case WHERE id IN ({timers}) AND status = 'closed'"))
    closed = int(q(f"SELECT count(*) FROM cases_case WHERE id IN ({residence}) AND status = 'closed' AND outcome = 'accepted'"))
    not_done = int(q("SELECT count(*) FROM engine_outboxmessage WHERE status <> 'done'"))
    checks = {
        "residence cases": len(result["residence_cases"]), "closed accepted": closed,
        "ANPR register changes applied": len(applied), "ANPR outbox rows done": anpr_done,
        "ANPR HTTP requests (register changes)": sum(requests_per_op.values()),
        "ANPR operations requested more than once (replays)": sum(1 for n in requests_per_op.values() if n > 1),
        "outbox rows not done": not_done, "outbox": outbox,
        "deeds: rows, cases, max per case and kind": deeds,
        "timer cases": len(result["timer_cases"]), "timer cases closed": timer_closed,
        "timer fired per case (min|max|cases)": fired,
    }
    checks["ok"] = {
        "every residence case closed/accepted": closed == len(result["residence_cases"]),
        "one ANPR register change per case": len(applied) == closed == anpr_done,
        "every outbox message done": not_done == 0,
        # Signed deeds only: each notice is also protocolled (a "segnatura" document per registration, three
        # per case since the residence change sends its notices) - those are not renders.
        "one deed per case": deeds[2] in ("1", "0") and int(deeds[1]) >= closed,
        "every timer fired once": fired == ["1", "1", str(len(result["timer_cases"]))] or not result["timer_cases"],
        "every timer case closed": timer_closed == len(result["timer_cases"]),
    }
    return checks


def proxy_retries(access_log: Path) -> dict:
    """From nginx's log: requests it passed to a second web process, and what the client got."""
    retried = Counter()
    if access_log.exists():
        for line in access_log.read_text(errors="replace").splitlines():
            parts = line.split(" ", 3)
            if len(parts) == 4 and "," in parts[3]:
                retried[f"{parts[1]} -> {parts[0]}"] += 1
    return dict(retried)


def media_bytes(stack: Stack) -> int:
    """Bytes of stored documents (the deeds: object storage in production)."""
    root = stack.var_dir / "media"
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file()) if root.exists() else 0


def db_bytes(stack: Stack) -> dict:
    """Bytes of the tables that grow with cases (heap + TOAST + indexes), and the number of cases."""
    rows = stack.psql("""SELECT c.relname, pg_total_relation_size(c.oid) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                         WHERE n.nspname = 'public' AND c.relkind = 'r' AND c.relname ~ '^(cases|engine|audit|documents|connectors|forms)_'
                         AND c.relname NOT IN ('engine_processdefinition', 'engine_processversion', 'documents_documenttype',
                                               'documents_template', 'documents_templateversion')""", stack.db)
    sizes = {name: int(size) for name, size in (r.split("|") for r in rows.splitlines() if r)}
    cases = int(stack.psql("SELECT count(*) FROM cases_case", stack.db))
    return {"cases": cases, "tables": sizes}


if __name__ == "__main__":
    out = main()
    print(json.dumps(out, indent=1, default=str))
    if len(sys.argv) > 1:
        Path(sys.argv[1]).write_text(json.dumps(out, indent=1, default=str))
