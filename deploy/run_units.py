#!/usr/bin/env python3
"""Start the production topology from deploy/systemd/*.service on a host WITHOUT systemd or Docker (a
container, a test machine, a VM where the operator prefers one supervisor process): the units are the
single source of the commands, read here and run with the same environment files, one process group per
instance, restarted when it exits (the units' Restart=always), with nginx (deploy/nginx) in front.

    deploy/run_units.py --env /etc/procedo/procedo.env --direct-env /etc/procedo/direct.env \\
        --app /srv/procedo/app --var /srv/procedo/var \\
        --web 8000 --web 8001 --worker engine --worker connectors --worker documents --worker default --beat \\
        --nginx-https 443 --nginx-http 80 --tls-dir /etc/nginx/procedo/tls --server-name procedo.example.it

Order: procedo-migrate (its ExecStart lines in turn; a failure stops everything), then the web, worker
and beat instances, then nginx once every web port answers. SIGTERM or SIGINT stops them all (SIGTERM to
each group, SIGKILL after the unit's TimeoutStopSec). `<var>/run_units.json` lists the running instances
(name, process group, restarts) for probes and operators. Only the standard library: it runs before the
virtualenv is trusted. tests/deploy/test_run_units.py starts it and probes the topology.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

DEPLOY = Path(__file__).resolve().parent
UNITS = DEPLOY / "systemd"
NGINX_DIR = DEPLOY / "nginx"


def log(msg: str) -> None:
    print(f"{time.strftime('%Y-%m-%d %H:%M:%S')} run_units: {msg}", flush=True)


# --- units -------------------------------------------------------------------------------------------------


def read_unit(name: str) -> dict[str, list[str]]:
    """The [Service] keys of a unit, each with all its values in order (ExecStart may repeat)."""
    values: dict[str, list[str]] = {}
    text = (UNITS / name).read_text().replace("\\\n", " ")
    section = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        if section == "Service" and "=" in line:
            key, value = line.split("=", 1)
            values.setdefault(key.strip(), []).append(value.strip())
    return values


def expand(value: str, *, instance: str, app: Path, var: Path) -> str:
    """systemd specifiers and paths of the units, for this host."""
    value = value.replace("/srv/procedo/app", str(app)).replace("/srv/procedo/var", str(var))
    value = value.replace("%%", "\0").replace("%i", instance).replace("\0", "%")
    return value.replace("$$", "$")


def read_env_file(path: Path) -> dict[str, str]:
    """systemd's EnvironmentFile format: KEY=VALUE lines, # comments, optional quotes."""
    env: dict[str, str] = {}
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")) or "=" not in line:
            continue
        key, value = line.split("=", 1)
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        env[key.strip()] = value
    return env


class Instance:
    def __init__(self, unit: str, instance: str, args: argparse.Namespace, base_env: dict[str, str]) -> None:
        self.unit, self.instance = unit, instance
        self.name = unit.replace("@.service", f"@{instance}").replace(".service", "")
        spec = read_unit(unit)
        x = lambda v: expand(v, instance=instance, app=args.app, var=args.var)  # noqa: E731
        self.env = dict(base_env)
        for item in spec.get("EnvironmentFile", []):
            optional = item.startswith("-")
            path = Path(x(item.lstrip("-")))
            if path == Path("/etc/procedo/procedo.env"):
                path = args.env
            elif path == Path("/etc/procedo/direct.env"):
                path = args.direct_env or args.env
            elif str(path).startswith("/etc/procedo/"):
                path = args.env.parent / path.name  # worker-<queue>.env beside the main file
            if path.exists():
                self.env.update(read_env_file(path))
            elif not optional:
                raise SystemExit(f"{self.name}: environment file {path} is missing")
        for item in spec.get("Environment", []):
            for pair in shlex.split(x(item)):
                key, value = pair.split("=", 1)
                self.env[key] = value
        self.commands = [shlex.split(x(c)) for c in spec.get("ExecStart", [])]
        self.cwd = Path(x(spec.get("WorkingDirectory", [str(args.app)])[0]))
        self.restart = spec.get("Restart", ["no"])[0] in ("always", "on-failure")
        self.restart_sec = float(spec.get("RestartSec", ["1"])[0])
        self.stop_timeout = float(spec.get("TimeoutStopSec", ["90"])[0])
        self.nice = int(spec.get("Nice", ["0"])[0])
        self.log_path = args.var / "logs" / f"{self.name}.log"
        self.proc: subprocess.Popen | None = None
        self.restarts = 0
        self.exited_at: float | None = None

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        out = self.log_path.open("ab")
        command = ["nice", "-n", str(self.nice), *self.commands[-1]] if self.nice else self.commands[-1]
        self.proc = subprocess.Popen(command, cwd=self.cwd, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        out.close()
        self.exited_at = None
        log(f"{self.name} started (process group {self.proc.pid})")

    def run_oneshot(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as out:
            for command in self.commands:
                log(f"{self.name}: {' '.join(command[1:4])} ...")
                done = subprocess.run(command, cwd=self.cwd, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                                      stdin=subprocess.DEVNULL, check=False)
                if done.returncode:
                    raise SystemExit(f"{self.name} failed ({' '.join(command)}): see {self.log_path}")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            self.proc.wait(self.stop_timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        # Whatever the group left behind (children of a killed parent) goes too.
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


# --- nginx -------------------------------------------------------------------------------------------------


def nginx_binary() -> str:
    found = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(found).exists():
        raise SystemExit("nginx is not installed")
    return found


def render_nginx(args: argparse.Namespace) -> Path:
    """deploy/nginx/*.conf with this host's paths, web ports and listening ports."""
    folder = args.var / "nginx"
    conf_dir = folder / "procedo"
    (conf_dir / "tls").mkdir(parents=True, exist_ok=True)
    for name in ("fullchain.pem", "privkey.pem", "cns-ca.pem"):
        shutil.copyfile(args.tls_dir / name, conf_dir / "tls" / name)
    upstreams = "\n    ".join(f"server 127.0.0.1:{port};" for port in args.web)
    for source in NGINX_DIR.glob("*.conf"):
        text = source.read_text().replace("/etc/nginx/procedo/", f"{conf_dir}/").replace("/srv/procedo/var", str(args.var))
        text = text.replace("server web1:8000;\n    server web2:8000;", upstreams)
        text = text.replace("procedo.example.it", args.server_name)
        text = text.replace("listen 80;", f"listen {args.listen}:{args.nginx_http};").replace("listen [::]:80;", "")
        text = text.replace("listen 443 ssl http2;", f"listen {args.listen}:{args.nginx_https} ssl http2;")
        text = text.replace("listen [::]:443 ssl http2;", "")
        (conf_dir / source.name).write_text(text)
    mime = "/etc/nginx/mime.types"
    main = folder / "nginx.conf"
    main.write_text(
        f"daemon off;\nworker_processes auto;\npid {folder}/nginx.pid;\nerror_log {folder}/error.log;\nevents {{}}\n"
        f"http {{\n" + (f"  include {mime};\n" if Path(mime).exists() else "")
        + f"  access_log {folder}/access.log;\n  include {conf_dir}/procedo.conf;\n}}\n"
    )
    check = subprocess.run([nginx_binary(), "-t", "-p", str(folder), "-c", str(main)], capture_output=True, text=True)
    if check.returncode:
        raise SystemExit("nginx -t refused the rendered configuration: " + check.stderr)
    return main


class NginxInstance(Instance):
    def __init__(self, args: argparse.Namespace, main: Path) -> None:  # noqa: D107 - not a unit
        self.unit, self.instance, self.name = "nginx", "", "nginx"
        self.env = dict(os.environ)
        self.commands = [[nginx_binary(), "-p", str(main.parent), "-c", str(main)]]
        self.cwd = main.parent
        self.restart, self.restart_sec, self.stop_timeout, self.nice = True, 2.0, 10.0, 0
        self.log_path = args.var / "logs" / "nginx.log"
        self.proc = None
        self.restarts = 0
        self.exited_at = None


def wait_port(port: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            time.sleep(0.3)
    return False


# --- main --------------------------------------------------------------------------------------------------


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--env", type=Path, required=True, help="the environment of every process (procedo.env.example)")
    p.add_argument("--direct-env", type=Path, help="DATABASE_URL of PostgreSQL itself for the migrate job (default: --env)")
    p.add_argument("--app", type=Path, default=DEPLOY.parent, help="the application folder (with .venv)")
    p.add_argument("--var", type=Path, required=True, help="state: logs, static files, documents, nginx's files")
    p.add_argument("--web", type=int, action="append", default=[], help="a web process on this port (repeat)")
    p.add_argument("--worker", action="append", default=[], help="a worker for this queue (repeat)")
    p.add_argument("--beat", action="store_true", help="the one beat of the deployment runs here")
    p.add_argument("--skip-migrate", action="store_true", help="do not run procedo-migrate first")
    p.add_argument("--nginx-https", type=int, help="start nginx on this HTTPS port (and --nginx-http)")
    p.add_argument("--nginx-http", type=int, default=0)
    p.add_argument("--listen", default="127.0.0.1", help="nginx's listening address")
    p.add_argument("--tls-dir", type=Path, help="fullchain.pem, privkey.pem, cns-ca.pem for nginx")
    p.add_argument("--server-name", default="procedo.example.it")
    args = p.parse_args(argv)
    args.app, args.var, args.env = args.app.resolve(), args.var.resolve(), args.env.resolve()
    if args.nginx_https and not (args.tls_dir and args.web and args.nginx_http):
        p.error("nginx needs --tls-dir, --nginx-http and at least one --web")
    return args


def main(argv: list[str]) -> int:
    args = parse(argv)
    args.var.mkdir(parents=True, exist_ok=True)
    base_env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "CELERY_", "PROCEDO_"))}
    if not args.skip_migrate:
        Instance("procedo-migrate.service", "", args, base_env).run_oneshot()
    instances = [Instance("procedo-web@.service", str(port), args, base_env) for port in args.web]
    instances += [Instance("procedo-worker@.service", queue, args, base_env) for queue in args.worker]
    if args.beat:
        instances.append(Instance("procedo-beat.service", "", args, base_env))
    stopping = False

    def on_signal(signum, _frame) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    status_file = args.var / "run_units.json"
    try:
        for inst in instances:
            inst.start()
        if args.nginx_https:
            for port in args.web:
                if not wait_port(port, 180):
                    raise SystemExit(f"the web process on port {port} does not answer")
            instances.append(NginxInstance(args, render_nginx(args)))
            instances[-1].start()
        log("running: " + ", ".join(i.name for i in instances))
        while not stopping:
            for inst in instances:
                if inst.proc is not None and inst.proc.poll() is not None and not stopping:
                    if inst.exited_at is None:
                        inst.exited_at = time.monotonic()
                        log(f"{inst.name} exited with {inst.proc.returncode}")
                        try:  # what the group left behind (a killed master's workers) goes with it
                            os.killpg(inst.proc.pid, signal.SIGKILL)
                        except ProcessLookupError:
                            pass
                    if inst.restart and time.monotonic() - inst.exited_at >= inst.restart_sec:
                        inst.restarts += 1
                        inst.start()
            status_file.write_text(json.dumps([
                {"name": i.name, "pgid": i.proc.pid if i.proc else None, "running": bool(i.proc and i.proc.poll() is None),
                 "restarts": i.restarts} for i in instances], indent=1))
            time.sleep(0.5)
    finally:
        log("stopping")
        for inst in reversed(instances):  # nginx first, beat before the workers, web last
            inst.stop()
        status_file.unlink(missing_ok=True)
        log("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
