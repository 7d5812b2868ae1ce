"""Fault drill (issue 17): residence-change cases run on the real stack while
  (a) the Celery worker is SIGKILLed in the middle of an outbox delivery, then restarted;
  (b) the ANPR simulator is stopped for SIM_DOWN seconds (default 120) while cases need it;
  (c) PostgreSQL is restarted during a run (a PRIVATE cluster on a free port: other users of the
      machine's cluster are never disturbed);
  (d) the document storage's disk is full (a 5 MB tmpfs mounted on the documents root, filled up).
After each fault: every case reaches its expected state (closed, accepted), no ANPR operation is lost
or done twice (the simulator's own operation log, one per case), and incidents say what happened.
Figures and outcome in bench/faults/RESULTS.md.

Environment: CASES (per phase, 3), SIM_DOWN (120), PHASES (a,b,c,d), SETTLE_TIMEOUT (600 s per phase).
Needs root for the tmpfs mount and to run the private PostgreSQL as the postgres user.
"""

from __future__ import annotations

import datetime as dt
import glob
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from bench.stack import Stack, free_port  # noqa: E402

HERE = Path(__file__).resolve().parent
DECLARATION = {
    "declarants": [{"fiscal_code": "RSSMRA80A01H501U", "given_name": "Mario", "family_name": "Rossi"}],
    "new_address": {"street": "Via Roma", "house_number": "12", "municipality_istat": "046007"},
    "declaration_date": "2026-03-01",
}
REGISTRATION = {"origin": "same_municipality", "documents_checked": True}
POSITIVE = {"outcome": "positive", "visit_date": "2026-03-10", "found_at_address": True}
PG_BIN = Path(sorted(glob.glob("/usr/lib/postgresql/*/bin"))[-1])


def log(msg: str) -> None:
    print(f"{dt.datetime.now():%H:%M:%S} {msg}", flush=True)


class PrivatePostgres:
    """initdb + pg_ctl as the postgres user, on a free port, trust auth on loopback only."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="procedo-faults-pg-"))
        self.port = free_port()
        shutil.chown(self.dir, "postgres", "postgres")
        self.data = self.dir / "data"

    def _pg(self, *args: str) -> None:
        # Output to a file, never a pipe: the server started by pg_ctl inherits it and would hold it open.
        with (self.dir / "pg_ctl.out").open("ab") as out:
            subprocess.run(["runuser", "-u", "postgres", "--", *args], check=True, stdout=out, stderr=out)

    def start(self) -> None:
        self._pg(str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8")
        self._pg(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-w", "-l", str(self.dir / "pg.log"), "-o",
                 f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off", "start")

    def restart(self) -> None:
        self._pg(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-w", "-m", "fast", "-l", str(self.dir / "pg.log"), "restart")

    def stop(self) -> None:
        subprocess.run(["runuser", "-u", "postgres", "--", str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m",
                        "immediate", "stop"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        shutil.rmtree(self.dir, ignore_errors=True)

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}"


class Api:
    """The drill's operators, through the REST API; calls are retried while the stack recovers."""

    def __init__(self, stack: Stack, users: dict) -> None:
        self.base = stack.web_url + "/api/v1"
        self.tenant = users["tenant"]
        self.tokens = {role: users[key][0]["token"] for role, key in
                       (("registrar", "registrars"), ("police", "police"), ("supervisor", "supervisors"))}
        self.failed_calls = 0

    def call(self, role: str, method: str, path: str, json=None, ok=(200, 201), tries: int = 30):
        for _ in range(tries):
            try:
                r = requests.request(method, self.base + path, json=json, timeout=30, headers={
                    "Authorization": f"Token {self.tokens[role]}", "X-Procedo-Tenant": self.tenant})
                if r.status_code in ok:
                    return r.json()
                if r.status_code < 500 and r.status_code not in (409, 423):
                    raise RuntimeError(f"{method} {path}: {r.status_code} {r.text[:300]}")
            except requests.RequestException:
                pass
            self.failed_calls += 1
            time.sleep(2)
        raise RuntimeError(f"{method} {path}: no success after {tries} tries")

    def open_case(self) -> int:
        return self.call("registrar", "POST", "/cases/", {"process": "residence_change", "data": DECLARATION})["id"]

    def case(self, case_id: int) -> dict:
        return self.call("registrar", "GET", f"/cases/{case_id}/")

    def complete(self, role: str, case_id: int, bpmn_id: str, data: dict) -> bool:
        tasks = [t for t in self.case(case_id)["tasks"] if t["bpmn_id"] == bpmn_id]
        if not tasks:
            return False
        self.call(role, "POST", f"/tasks/{tasks[0]['id']}/claim/", ok=(200, 409))
        self.call(role, "POST", f"/tasks/{tasks[0]['id']}/complete/", {"data": data}, ok=(200, 409))
        return True

    def incidents(self) -> list[dict]:
        body = self.call("supervisor", "GET", "/incidents/?status=open&limit=200")
        return body.get("results", body) if isinstance(body, dict) else body

    def retry_incidents(self) -> list[dict]:
        found = self.incidents()
        for incident in found:
            self.call("supervisor", "POST", f"/incidents/{incident['id']}/retry/", ok=(200, 409))
        return found


def drive(api: Api, case_ids: list[int], timeout: float, retry_incidents: bool = True) -> tuple[dict, list[dict]]:
    """Work every case to its end: registration, (worker: notice + ANPR), police verification, closed."""
    deadline = time.monotonic() + timeout
    seen_incidents: list[dict] = []
    while True:
        states = {}
        for case_id in case_ids:
            case = api.case(case_id)
            open_tasks = {t["bpmn_id"] for t in case["tasks"]}
            if "registration" in open_tasks:
                api.complete("registrar", case_id, "registration", REGISTRATION)
            elif "police_verification" in open_tasks:
                api.complete("police", case_id, "police_verification", POSITIVE)
            states[case_id] = (case["status"], case.get("outcome", ""))
        if all(s[0] == "closed" for s in states.values()) or time.monotonic() > deadline:
            return states, seen_incidents
        if retry_incidents:
            for incident in api.retry_incidents():
                log(f"  incident {incident['id']} ({incident.get('kind')}): {incident.get('message', '')[:160]} -> retry")
                seen_incidents.append(incident)
        time.sleep(3)


REGISTER_CHANGES = {"5005", "1002"}  # what a residence change applies; P001 is the beat's poll of portal requests


def anpr_operations(stack: Stack) -> int:
    """Register changes ANPR applied (distinct idOperazioneComune): exactly one per case, or one was lost or doubled."""
    app = stack.simulators["anpr"].app
    with app.lock:
        return sum(1 for op, _answer in app.operations.values() if op in REGISTER_CHANGES)


def anpr_operation_log(stack: Stack) -> list[str]:
    """What ANPR applied, by (operation, idOperazioneComune): one register change per case expected."""
    app = stack.simulators["anpr"].app
    with app.lock:
        return [f"{op} {op_id}" for (_sender, op_id), (op, _answer) in app.operations.items()]


def wait_for_outbox(stack: Stack, status: str, operation: str, timeout: float = 300) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        n = stack.psql(f"SELECT count(*) FROM engine_outboxmessage WHERE status = '{status}' "
                       f"AND operation = '{operation}'", stack.db)
        if n and int(n) > 0:
            return True
        time.sleep(0.2)
    return False


def main() -> int:
    per_phase = int(os.environ.get("CASES", "3"))
    sim_down = int(os.environ.get("SIM_DOWN", "120"))
    settle = float(os.environ.get("SETTLE_TIMEOUT", "600"))
    phases = [p.strip() for p in os.environ.get("PHASES", "a,b,c,d").split(",") if p.strip()]
    pg = PrivatePostgres()
    pg.start()
    stack = Stack(db="procedo_faults", pg_url=pg.url, web_workers=2,
                  redis_url=os.environ.get("DRILL_REDIS_URL", "redis://127.0.0.1:6379/7"))
    docs_root = stack.var_dir / "media" / "documents"
    docs_root.mkdir(parents=True, exist_ok=True)
    mounted = False
    results: list[dict] = []
    try:
        if "d" in phases:
            subprocess.run(["mount", "-t", "tmpfs", "-o", "size=5m", "tmpfs", str(docs_root)], check=True)
            mounted = True
        stack.prepare()
        users_file = stack.var_dir / "users.json"
        stack.env.update(LOAD_REGISTRARS="1", LOAD_POLICE="1", LOAD_READERS="0", LOAD_CITIZENS="0",
                         LOAD_SUPERVISORS="1", INITIAL_CASES="0")
        stack.run_python(HERE.parent / "load" / "seed.py", str(users_file))
        import json

        users = json.loads(users_file.read_text())
        stack.start()
        api = Api(stack, users)
        total_cases: list[int] = []

        def phase(name: str, fault) -> None:
            log(f"phase {name}")
            before_ops = anpr_operations(stack)
            before_log = set(anpr_operation_log(stack))
            before_failed = api.failed_calls
            cases = [api.open_case() for _ in range(per_phase)]
            total_cases.extend(cases)
            started = time.monotonic()
            note = fault(cases)
            states, incidents = drive(api, cases, settle)
            ops = anpr_operations(stack) - before_ops
            ok = all(s == ("closed", "accepted") for s in states.values()) and ops == len(cases)
            applied = sorted(set(anpr_operation_log(stack)) - before_log)
            outbox = stack.psql("SELECT o.id, c.number, o.operation, o.status, o.attempts FROM engine_outboxmessage o "
                                "JOIN cases_case c ON c.instance_id = o.instance_id WHERE c.id IN ("
                                + ",".join(map(str, cases)) + ") ORDER BY o.id", stack.db)
            results.append({"phase": name, "cases": len(cases), "states": states, "anpr_ops": ops, "ok": ok,
                            "applied": applied, "outbox": outbox.splitlines(),
                            "incidents": incidents, "note": note, "seconds": time.monotonic() - started,
                            "client_retries": api.failed_calls - before_failed})
            log(f"  -> {'OK' if ok else 'FAILED'}: states {set(states.values())}, ANPR operations {ops} for {len(cases)} cases")

        def kill_worker(cases):
            for c in cases:
                api.complete("registrar", c, "registration", REGISTRATION)
            hit = wait_for_outbox(stack, "running", "anpr.mutazione_residenza") or wait_for_outbox(stack, "running", "documents.render_and_sign", 5)
            stack.kill_worker()
            log(f"  worker SIGKILLed ({'during a delivery' if hit else 'no delivery seen running'}); restart in 5 s")
            time.sleep(5)
            stack.start_worker()
            return f"worker killed {'mid-delivery' if hit else '(no running delivery observed)'} and restarted after 5 s"

        def anpr_down(cases):
            stack.stop_simulator("anpr")
            log(f"  ANPR simulator stopped for {sim_down} s")
            for c in cases:
                api.complete("registrar", c, "registration", REGISTRATION)
            time.sleep(sim_down)
            stack.start_simulator("anpr")
            log("  ANPR simulator back")
            return f"ANPR down {sim_down} s while {len(cases)} cases needed it"

        def pg_restart(cases):
            for c in cases:
                api.complete("registrar", c, "registration", REGISTRATION)
            time.sleep(1)
            t = time.monotonic()
            pg.restart()
            log(f"  PostgreSQL restarted in {time.monotonic() - t:.1f} s")
            return f"PostgreSQL (private cluster) restarted in {time.monotonic() - t:.1f} s during deliveries"

        def disk_full(cases):
            filler = docs_root / "filler"
            with filler.open("wb") as fh:
                try:
                    while True:
                        fh.write(b"\0" * 65536)
                        fh.flush()
                except OSError:
                    pass
            log("  documents disk full")
            for c in cases:
                api.complete("registrar", c, "registration", REGISTRATION)
            time.sleep(int(os.environ.get("DISK_FULL_FOR", "45")))
            filler.unlink()
            log("  space freed")
            return "documents storage full (tmpfs 5 MB) while deeds were rendered, then space freed"

        for key, name, fn in (("a", "(a) worker SIGKILL mid-delivery", kill_worker),
                              ("b", "(b) ANPR simulator down", anpr_down),
                              ("c", "(c) PostgreSQL restart", pg_restart),
                              ("d", "(d) documents disk full", disk_full)):
            if key in phases:
                phase(name, fn)
        duplicates = stack.psql("SELECT operation, status, count(*) FROM engine_outboxmessage GROUP BY 1, 2 ORDER BY 1, 2",
                                stack.db).replace("\n", "; ")
    finally:
        stack.stop()
        if mounted:
            subprocess.run(["umount", "-l", str(docs_root)], check=False)
        pg.stop()
    write_results(results, duplicates, sim_down)
    return 0 if all(r["ok"] for r in results) else 1


def write_results(results: list[dict], duplicates: str, sim_down: int) -> None:
    lines = ["# Fault drill", "",
             f"_Run {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M UTC}; `SIM_DOWN={sim_down} bash bench/faults/run.sh` "
             "(private PostgreSQL cluster, Redis broker, gunicorn, one Celery worker with beat, simulators)_", "",
             "| fault | cases | reached closed/accepted | ANPR register changes applied (expected = cases) | incidents (retried) "
             "| client retries | seconds | outcome |",
             "|---|---:|---:|---:|---:|---:|---:|---|"]
    for r in results:
        closed = sum(1 for s in r["states"].values() if s == ("closed", "accepted"))
        lines.append(f"| {r['phase']}: {r['note']} | {r['cases']} | {closed} | {r['anpr_ops']} | {len(r['incidents'])} | "
                     f"{r['client_retries']} | {r['seconds']:.0f} | {'OK' if r['ok'] else 'FAILED'} |")
    lines += ["", f"Outbox after the drill (operation|status|rows): `{duplicates}`.", ""]
    for r in results:
        lines += [f"### {r['phase']}", "", "ANPR operations applied: " + ", ".join(f"`{a}`" for a in r["applied"]), "",
                  "Outbox rows of these cases (id|case|operation|status|attempts): "
                  + ", ".join(f"`{o}`" for o in r["outbox"]), ""]
    for r in results:
        for incident in r["incidents"]:
            lines.append(f"- {r['phase']}: incident {incident.get('kind')}: {str(incident.get('message'))[:200]}")
    (HERE / "RESULTS.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    raise SystemExit(main())
