"""deploy/ starts the topology on this machine (no Docker daemon, no systemd as PID 1): `systemd-analyze verify`
accepts the units, and deploy/run_units.py - which runs those same units' commands - starts the migrate job,
two web processes, a worker per queue on RabbitMQ, beat and nginx (deploy/nginx, TLS); the probes go
through nginx to the app and the database, beat's timers reach the engine worker over RabbitMQ, a killed web
process is restarted, and SIGTERM stops every process group."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from cryptography.fernet import Fernet
from django.conf import settings

from tests.deploy.test_nginx_config import _free_port, _insecure_tls, _self_signed

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
PYTHON = ROOT / ".venv" / "bin" / "python"
QUEUES = ("engine", "connectors", "documents", "default")


def test_systemd_analyze_verifies_every_unit(tmp_path):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.fail("systemd-analyze is not installed (package systemd)")
    names = []
    for unit in (DEPLOY / "systemd").glob("*.service"):
        text = unit.read_text().replace("/srv/procedo/app", str(ROOT))  # the executables must exist
        instances = {"procedo-web@.service": "8000", "procedo-worker@.service": "engine"}
        name = unit.name.replace("@.service", f"@{instances[unit.name]}.service") if unit.name in instances else unit.name
        (tmp_path / name).write_text(text)
        names.append(str(tmp_path / name))
    assert len(names) == 4
    done = subprocess.run([analyze, "verify", *names], capture_output=True, text=True, timeout=120)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert not [line for line in output.splitlines()
                if any(w in line for w in ("Unknown", "ignoring", "not executable", "Invalid", "Failed"))], output


def _sh(*args: str, check: bool = True, env: dict | None = None, timeout: float = 120) -> str:
    done = subprocess.run(args, capture_output=True, text=True, env=env, timeout=timeout, check=False, cwd=ROOT)
    if check and done.returncode:
        raise AssertionError(f"{args}: {done.stdout}\n{done.stderr}")
    return done.stdout


@pytest.fixture
def topology(tmp_path):
    """Database and RabbitMQ vhost of their own, environment files like /etc/procedo's, TLS for nginx."""
    db_settings = settings.DATABASES["default"]
    db = f"{db_settings['NAME']}_topology"
    pg = f"postgres://{db_settings['USER']}@{db_settings['HOST'] or '127.0.0.1'}:{db_settings['PORT'] or 5432}"
    psql = ["psql", f"{pg}/postgres", "-qAtc"]
    _sh(*psql, f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
    _sh(*psql, f'CREATE DATABASE "{db}"')
    vhost = db
    if shutil.which("rabbitmqctl") is None:
        pytest.fail("rabbitmqctl is not installed: RabbitMQ runs on this machine kind (scripts/ensure-system.sh)")
    _sh("rabbitmqctl", "add_vhost", vhost, check=False)
    _sh("rabbitmqctl", "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
    amqp = urlsplit(os.environ.get("PROCEDO_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//"))
    etc = tmp_path / "etc"
    etc.mkdir()
    var = tmp_path / "var"
    env_file = etc / "procedo.env"
    env_file.write_text("\n".join([
        "# as /etc/procedo/procedo.env (deploy/procedo.env.example), for this machine",
        "PROCEDO_ENV=demo",  # the demo signer: no HSM or seal certificate here
        "DEBUG=0",
        f"SECRET_KEY=topology-{os.urandom(16).hex()}",
        f"PROCEDO_SECRETS_KEYS={Fernet.generate_key().decode()}",
        "ALLOWED_HOSTS=procedo.example.it,127.0.0.1,localhost",
        "CSRF_TRUSTED_ORIGINS=https://procedo.example.it",
        "SECURE_PROXY_SSL_HEADER=X-Forwarded-Proto",
        "PROCEDO_TRUSTED_PROXY_COUNT=1",
        f"DATABASE_URL={pg}/{db}",
        f"CELERY_BROKER_URL=amqp://{amqp.netloc}/{vhost}",
        f"PROCEDO_SPECS_DIR={ROOT.parent / 'shared' / 'specs'}",
        "",
    ]))
    (etc / "web.env").write_text("WEB_WORKERS=1\n")
    for queue in QUEUES:
        (etc / f"worker-{queue}.env").write_text("CONCURRENCY=1\n")
    tls = tmp_path / "tls"
    tls.mkdir()
    _self_signed(tls)
    try:
        yield {"env_file": env_file, "var": var, "tls": tls, "db": db}
    finally:
        _sh(*psql, f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)', check=False)
        _sh("rabbitmqctl", "delete_vhost", vhost, check=False)


def _status(var: Path) -> dict[str, dict]:
    try:
        return {i["name"]: i for i in json.loads((var / "run_units.json").read_text())}
    except (OSError, ValueError):
        return {}


def _gone(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    return False


def test_run_units_starts_the_topology_and_stops_it(topology):
    var, env_file = topology["var"], topology["env_file"]
    web_ports = [_free_port(), _free_port()]
    http_port, https_port = _free_port(), _free_port()
    command = [str(PYTHON), str(DEPLOY / "run_units.py"), "--env", str(env_file), "--var", str(var),
               "--web", str(web_ports[0]), "--web", str(web_ports[1]), *[a for q in QUEUES for a in ("--worker", q)],
               "--beat", "--nginx-https", str(https_port), "--nginx-http", str(http_port), "--tls-dir", str(topology["tls"])]
    var.mkdir()
    out = (var / "run_units.out").open("wb")
    supervisor = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    pgids: list[int] = []

    def report() -> str:
        logs = "\n".join(f"== {p.name}\n{p.read_text(errors='replace')[-1500:]}" for p in sorted((var / "logs").glob("*.log"))) \
            if (var / "logs").exists() else ""
        return (var / "run_units.out").read_text(errors="replace")[-3000:] + "\n" + logs

    try:
        # The migrate job (the whole schema, the shipped procedures, static files) then every process.
        deadline = time.monotonic() + 900
        while not _status(var).get("nginx", {}).get("running"):
            assert supervisor.poll() is None, report()
            assert time.monotonic() < deadline, report()
            time.sleep(2)
        status = _status(var)
        assert set(status) == {f"procedo-web@{p}" for p in web_ports} | {f"procedo-worker@{q}" for q in QUEUES} | {
            "procedo-beat", "nginx"}, status
        pgids = [i["pgid"] for i in status.values()]
        # Background work yields the cores to the web tier on a shared host: the units' Nice=10 applies.
        ours = os.getpriority(os.PRIO_PROCESS, 0)
        assert {os.getpriority(os.PRIO_PROCESS, status[f"procedo-worker@{q}"]["pgid"]) - ours for q in QUEUES} == {10}
        assert os.getpriority(os.PRIO_PROCESS, status[f"procedo-web@{web_ports[0]}"]["pgid"]) == ours
        context = _insecure_tls()

        def request(method: str, path: str, body: dict | None = None, headers: dict | None = None):
            conn = http.client.HTTPSConnection("127.0.0.1", https_port, context=context, timeout=30)
            conn.request(method, path, body=json.dumps(body) if body is not None else None,
                         headers={"Host": "procedo.example.it", "Content-Type": "application/json", **(headers or {})})
            response = conn.getresponse()
            data = response.read()
            conn.close()
            return response.status, dict(response.getheaders()), data

        # Pages through nginx over TLS, both web processes (round robin).
        for _ in range(4):
            assert request("GET", "/accedi/")[0] == 200

        # A tenant, a registrar and a procedure in the topology's database; the API through nginx.
        env = {**os.environ, **{k: v for k, v in (line.split("=", 1) for line in env_file.read_text().splitlines()
                                                  if line and not line.startswith("#"))}, "PROCEDO_VAR_DIR": str(var)}
        script = (
            "from pathlib import Path; from engine.bundles import read_bundle; "
            "from engine.registry import process_version_publish; "
            f"process_version_publish(bundle=read_bundle(Path('{ROOT / 'bench' / 'three_tasks'}'))); "
            "from accounts.roles import Role; from tests.factories import make_tenant, make_user; "
            "t = make_tenant(); u = make_user(t, Role.REGISTRAR); "
            "print(t.istat_code, u.username)"
        )
        istat, username = _sh(str(PYTHON), "manage.py", "shell", "-c", script, env=env, timeout=300).split()[-2:]
        token = _sh(str(PYTHON), "manage.py", "create_api_token", username, env=env, timeout=300).split()[-1]
        auth = {"Authorization": f"Token {token}", "X-Procedo-Tenant": istat}
        start = {"process": "three_tasks", "data": {}}
        created = request("POST", "/api/v1/cases/", start, {**auth, "Idempotency-Key": "topology-probe-01"})
        assert created[0] == 201, created
        again = request("POST", "/api/v1/cases/", start, {**auth, "Idempotency-Key": "topology-probe-01"})
        assert again[0] == 201 and again[1].get("Idempotent-Replayed") == "true" and again[2] == created[2]
        listed = request("GET", "/api/v1/tasks/?scope=available", headers=auth)
        assert listed[0] == 200 and json.loads(listed[2])["count"] == 1

        # Beat sends the timer sweep through RabbitMQ to the engine queue's worker, which runs it.
        deadline = time.monotonic() + 180
        engine_log = var / "logs" / "procedo-worker@engine.log"
        while "engine.tasks.fire_due_timers_task" not in engine_log.read_text(errors="replace") or \
                "succeeded" not in engine_log.read_text(errors="replace"):
            assert time.monotonic() < deadline, report()
            time.sleep(2)
        # Every worker answers on the broker.
        ping = subprocess.run([str(ROOT / ".venv" / "bin" / "celery"), "-A", "config", "inspect", "ping", "--timeout", "20"],
                              capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
        assert all(f"{q}@" in ping.stdout for q in QUEUES), ping.stdout + ping.stderr

        # A web process killed (its whole group): the supervisor starts it again (Restart=always);
        # nginx serves meanwhile from the other one.
        web1 = status[f"procedo-web@{web_ports[0]}"]
        os.killpg(web1["pgid"], signal.SIGKILL)
        for _ in range(4):
            assert request("GET", "/accedi/")[0] == 200
        deadline = time.monotonic() + 180
        while not (_status(var)[web1["name"]]["restarts"] == 1 and _status(var)[web1["name"]]["running"]):
            assert time.monotonic() < deadline, report()
            time.sleep(1)
        pgids.append(_status(var)[web1["name"]]["pgid"])
        conn_deadline = time.monotonic() + 180
        while True:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", web_ports[0], timeout=10)
                conn.request("GET", "/accedi/", headers={"Host": "127.0.0.1"})
                if conn.getresponse().status == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < conn_deadline, report()
            time.sleep(1)
    finally:
        if supervisor.poll() is None:
            supervisor.send_signal(signal.SIGTERM)
        try:
            code = supervisor.wait(120)
        except subprocess.TimeoutExpired:
            os.killpg(supervisor.pid, signal.SIGKILL)
            code = None
        out.close()
        for pgid in pgids:  # whatever the test failed on, nothing it started is left running
            if not _gone(pgid):
                os.killpg(pgid, signal.SIGKILL)
    assert code == 0, report()
    assert pgids and all(_gone(p) for p in pgids)
    assert not (var / "run_units.json").exists()
