"""deploy/ names only things that exist: commands, queues, settings; one scheduler; limits that agree."""

from __future__ import annotations

import configparser
import re
import shlex
from pathlib import Path

import yaml
from django.conf import settings
from django.core.management import get_commands

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
SETTINGS_SOURCE = (ROOT / "config" / "settings.py").read_text() + (ROOT / "config" / "production.py").read_text()


def _compose() -> dict:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def _command(service: dict) -> list[str]:
    command = service.get("command", [])
    return shlex.split(command) if isinstance(command, str) else list(command)


def _queue_of(command: list[str]) -> str:
    return command[command.index("-Q") + 1]


def test_the_compose_file_starts_every_role_of_the_topology():
    services = _compose()["services"]
    for name in ("postgres", "pgbouncer", "rabbitmq", "minio", "nginx", "migrate", "web1", "web2", "beat"):
        assert name in services, name
    workers = {name: _command(s) for name, s in services.items() if _command(s)[:4] == ["celery", "-A", "config", "worker"]}
    # One worker service per queue, each consuming exactly its own queue.
    assert sorted(_queue_of(c) for c in workers.values()) == sorted(settings.PROCEDO_CELERY_QUEUES)
    beats = [name for name, s in services.items() if "beat" in _command(s)[:4]]
    assert beats == ["beat"] and services["beat"]["deploy"]["replicas"] == 1
    for web in ("web1", "web2"):
        assert _command(services[web])[:2] == ["gunicorn", "config.wsgi"]
    assert (ROOT / "config" / "wsgi.py").is_file() and (ROOT / "config" / "celery.py").is_file()


def test_the_one_shot_job_runs_existing_commands_directly_on_postgresql():
    migrate = _compose()["services"]["migrate"]
    script = " ".join(_command(migrate))
    commands = re.findall(r"manage\.py (\w+)", script)
    assert commands == ["migrate", "sync_processes", "collectstatic"]
    assert set(commands) <= set(get_commands())
    assert "@postgres:5432/" in migrate["environment"]["DATABASE_URL"]
    assert migrate["environment"]["PROCEDO_DB_POOLER"] == ""


def test_every_variable_deploy_sets_is_a_setting_procedo_reads():
    names = set(_compose()["x-procedo"]["environment"])
    for line in (DEPLOY / "procedo.env.example").read_text().splitlines():
        if re.match(r"^#? ?[A-Z][A-Z0-9_]+=", line):
            names.add(line.lstrip("# ").split("=", 1)[0])
    assert "DATABASE_URL" in names and "CELERY_BROKER_URL" in names and "PROCEDO_DB_POOLER" in names
    unknown = sorted(n for n in names if f'"{n}"' not in SETTINGS_SOURCE)
    assert unknown == []


def test_limits_agree_between_the_proxy_and_the_app():
    locations = (DEPLOY / "nginx" / "locations.conf").read_text()
    megabytes = int(re.search(r"client_max_body_size (\d+)m;", locations).group(1))
    assert megabytes * 1024 * 1024 == settings.PROCEDO_MAX_REQUEST_BYTES
    env = (DEPLOY / "procedo.env.example").read_text()
    assert f"PROCEDO_MAX_REQUEST_BYTES={settings.PROCEDO_MAX_REQUEST_BYTES}" in env
    # The worker stop timeout outlasts a task's hard limit, so a stop never cuts a task short.
    worker_unit = (DEPLOY / "systemd" / "procedo-worker@.service").read_text()
    assert int(re.search(r"TimeoutStopSec=(\d+)", worker_unit).group(1)) > settings.PROCEDO_TASK_TIME_LIMIT


def test_pgbouncer_pools_transactions():
    ini = configparser.ConfigParser(inline_comment_prefixes=(";",))
    ini.read_string((DEPLOY / "pgbouncer" / "pgbouncer.ini").read_text())
    assert ini["pgbouncer"]["pool_mode"] == "transaction"


def test_systemd_units_start_existing_commands():
    for unit in (DEPLOY / "systemd").glob("*.service"):
        parser = configparser.ConfigParser(strict=False, interpolation=None)
        parser.read_string(unit.read_text().replace("\\\n", " "))
        start = parser["Service"]["ExecStart"]
        assert "/srv/procedo/app/.venv/bin/" in start
        assert "gunicorn config.wsgi" in start or "celery -A config" in start or "manage.py" in start, unit.name
    migrate = (DEPLOY / "systemd" / "procedo-migrate.service").read_text()
    assert re.findall(r"^ExecStart=.*manage\.py (\w+)", migrate, re.M) == ["migrate", "sync_processes", "collectstatic"]
    worker = (DEPLOY / "systemd" / "procedo-worker@.service").read_text()
    for queue in settings.PROCEDO_CELERY_QUEUES:
        assert f"procedo-worker@{queue}" in worker
