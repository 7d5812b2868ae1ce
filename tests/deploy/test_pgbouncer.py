"""Procedo's core writes through a real PgBouncer in transaction pooling mode (scripts/ensure-system.sh
installs pgbouncer; the tests start their own instance on a free port)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from django.db import connection

from accounts.roles import Role
from cases.models import Case, CaseStatus
from engine.bundles import read_bundle
from engine.registry import process_version_publish
from tests.factories import make_tenant, make_user

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
ROOT = Path(__file__).resolve().parents[2]
THREE_TASKS = ROOT / "bench" / "three_tasks"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _with_values(ini: str, values: dict[str, str]) -> str:
    """The shipped configuration with some `key = value` lines changed (each must exist, or be added)."""
    lines = ini.splitlines()
    for key, value in values.items():
        for i, line in enumerate(lines):
            if line.split("=", 1)[0].strip() == key:
                lines[i] = f"{key} = {value}"
                break
        else:
            lines.append(f"{key} = {value}")
    return "\n".join(lines) + "\n"


@pytest.fixture
def pgbouncer():
    binary = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
    if not Path(binary).exists():
        pytest.fail("pgbouncer is not installed: run scripts/ensure-system.sh")
    s = connection.settings_dict
    # pgbouncer refuses to run as root: as root it is started as the postgres user, who must reach
    # its files (pytest's own temporary directories are private to root).
    work = Path(tempfile.mkdtemp(prefix="procedo-pgbouncer-"))
    work.chmod(0o755)
    port = _free_port()
    user = s["USER"] or "postgres"
    (work / "users.txt").write_text(f'"{user}" "{s["PASSWORD"] or ""}"\n')
    ini = _with_values((ROOT / "deploy" / "pgbouncer" / "pgbouncer.ini").read_text(), {
        "listen_addr": "127.0.0.1", "listen_port": str(port), "auth_type": "trust",
        "auth_file": str(work / "users.txt"),
        # Fewer server connections than client threads, so sessions are shared between clients.
        "default_pool_size": "2", "max_db_connections": "4",
    })
    ini = ini.replace("procedo = host=postgres port=5432 dbname=procedo",
                      f"* = host={s['HOST'] or '127.0.0.1'} port={s['PORT'] or 5432}")
    (work / "pgbouncer.ini").write_text(ini)
    for f in work.iterdir():
        f.chmod(0o644)
    cmd = [binary, str(work / "pgbouncer.ini")]
    if os.geteuid() == 0:
        cmd[1:1] = ["-u", "postgres"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if proc.poll() is not None:
                pytest.fail("pgbouncer exited: " + proc.stdout.read().decode(errors="replace"))
            time.sleep(0.2)
    yield f"postgres://{user}@127.0.0.1:{port}/{s['NAME']}"
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
    shutil.rmtree(work, ignore_errors=True)


def test_cases_start_and_complete_with_an_intact_audit_chain_through_transaction_pooling(pgbouncer):
    process_version_publish(bundle=read_bundle(THREE_TASKS))
    tenant = make_tenant()
    user = make_user(tenant, Role.REGISTRAR)
    env = {**os.environ, "DATABASE_URL": pgbouncer, "PROCEDO_DB_POOLER": "pgbouncer", "PYTHONPATH": str(ROOT),
           "DJANGO_SETTINGS_MODULE": "config.settings"}
    threads, per_thread = 4, 3  # > 5 uses of the hot statements on each connection: psycopg would prepare them
    run = subprocess.run(
        [sys.executable, "-m", "tests.deploy.pgbouncer_ops", str(tenant.pk), str(user.pk), str(per_thread),
         str(threads)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    outcome = json.loads(run.stdout.strip().splitlines()[-1])
    assert outcome["errors"] == []
    assert outcome["pooler"] == "pgbouncer" and outcome["prepare_threshold"] is None
    assert outcome["server_side_binding"] is False and outcome["server_side_cursors_disabled"] is True
    assert outcome["cases"] == threads * per_thread
    assert outcome["audit_ok"] and outcome["audit_checked"] == outcome["events"] > 0
    cases = Case.objects.filter(tenant=tenant)
    assert cases.count() == threads * per_thread
    assert all(c.status == CaseStatus.OPEN for c in cases)
    assert all(c.work_items.filter(bpmn_id="third", status="open").count() == 1 for c in cases)
