"""The real stack for the drills (bench/load, bench/faults), on 127.0.0.1 only, on free ports:
a fresh PostgreSQL database, gunicorn, a Celery worker with embedded beat on a Redis broker, and
the connector simulators served from this process (so a drill can stop one and count its calls).

    with Stack(db="procedo_load") as stack:
        stack.prepare(); stack.start()
        ... stack.web_url, stack.simulators["anpr"].app.recorded("POST") ...

Every child runs in its own process group and is stopped (SIGTERM, then SIGKILL) with that group,
so LibreOffice converters started by the worker do not outlive the drill.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / ".venv" / "bin"
PLATFORMS = ("anpr", "pdnd", "pagopa", "appio", "send", "protocollo", "parer")


def _fernet_key() -> str:
    import base64

    return base64.urlsafe_b64encode(os.urandom(32)).decode()


_handed_out: set[int] = set()


def free_port() -> int:
    """An ephemeral port; with DRILL_PORTS=8170-8179 the first free one of that range not handed out yet
    (a machine shared by several sessions gives each its own range)."""
    span = os.environ.get("DRILL_PORTS", "")
    if span:
        low, high = (int(x) for x in span.split("-"))
        for port in range(low, high + 1):
            if port in _handed_out:
                continue
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", port))
                except OSError:
                    continue
            _handed_out.add(port)
            return port
        raise RuntimeError(f"no free port left in DRILL_PORTS={span}")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Stack:
    def __init__(self, *, db: str, pg_url: str | None = None, redis_url: str | None = None, web_workers: int = 3,
                 worker_concurrency: int = 2, var_dir: Path | None = None, log_dir: Path | None = None,
                 broker_url: str | None = None) -> None:
        self.pg_url = (pg_url or os.environ.get("DRILL_PG_URL", "postgres://postgres@127.0.0.1:5432")).rstrip("/")
        self.db = db
        # The Celery broker: Redis by default (the drills), or RabbitMQ (amqp://, the production topology).
        self.redis_url = broker_url or redis_url or os.environ.get("DRILL_REDIS_URL", "redis://127.0.0.1:6379/7")
        self.web_workers = web_workers
        self.worker_concurrency = worker_concurrency
        self.var_dir = Path(var_dir or tempfile.mkdtemp(prefix=f"{db}-var-"))
        self.log_dir = Path(log_dir or self.var_dir / "logs")
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.web_port = free_port()
        self.procs: dict[str, subprocess.Popen] = {}
        self.simulators: dict = {}
        self._sim_ports: dict[str, int] = {}
        specs = ROOT.parent / "shared" / "specs"
        self.env = {
            **os.environ,
            "DATABASE_URL": f"{self.pg_url}/{db}",
            "CELERY_BROKER_URL": self.redis_url,
            "PROCEDO_VAR_DIR": str(self.var_dir),
            "PROCEDO_SPECS_DIR": os.environ.get("PROCEDO_SPECS_DIR") or str(specs),
            "DEBUG": "0",
            # A drill runs on the demo signer and generated secrets: it is not production.
            "PROCEDO_ENV": "demo",
            # Short task limits, so the lease of a delivery lost with a killed worker expires in
            # 90 s instead of the production 6 minutes (the outbox waits a lease out before retrying).
            "PROCEDO_TASK_SOFT_TIME_LIMIT": os.environ.get("PROCEDO_TASK_SOFT_TIME_LIMIT", "50"),
            "PROCEDO_TASK_TIME_LIMIT": os.environ.get("PROCEDO_TASK_TIME_LIMIT", "60"),
            "PROCEDO_OUTBOX_LEASE_SECONDS": os.environ.get("PROCEDO_OUTBOX_LEASE_SECONDS", "90"),
            "SECRET_KEY": os.environ.get("SECRET_KEY") or "drill-" + os.urandom(24).hex(),
            "PROCEDO_SECRETS_KEYS": os.environ.get("PROCEDO_SECRETS_KEYS") or _fernet_key(),
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "PROCEDO_PUBLIC_BASE_URL": f"http://127.0.0.1:{self.web_port}",
            "PYTHONUNBUFFERED": "1",
        }
        for platform in PLATFORMS:
            self.env[f"PROCEDO_{platform.upper()}_TIMEOUT"] = "10"

    @property
    def web_url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    # --- setup ------------------------------------------------------------------

    def manage(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run([str(BIN / "python"), "manage.py", *args], cwd=ROOT, env=self.env, check=check,
                              capture_output=True, text=True)

    def psql(self, sql: str, db: str = "postgres") -> str:
        return subprocess.run(["psql", f"{self.pg_url}/{db}", "-Atqc", sql], check=True, capture_output=True,
                              text=True).stdout.strip()

    def prepare(self) -> None:
        """A fresh database with the schema, the shipped procedures and the demo signing keys."""
        self.psql(f'DROP DATABASE IF EXISTS "{self.db}" WITH (FORCE)')
        self.psql(f'CREATE DATABASE "{self.db}"')
        self.manage("migrate", "--noinput", "-v", "0")
        self.manage("sync_processes")
        self.manage("documents_setup")

    def run_python(self, script: Path, *args: str) -> str:
        done = subprocess.run([str(BIN / "python"), str(script), *args], cwd=ROOT, env=self.env,
                              capture_output=True, text=True, check=False)
        if done.returncode:
            raise RuntimeError(f"{script.name} failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")
        return done.stdout

    # --- processes --------------------------------------------------------------

    def _spawn(self, name: str, args: list[str]) -> subprocess.Popen:
        log = (self.log_dir / f"{name}.log").open("ab")
        proc = subprocess.Popen(args, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        self.procs[name] = proc
        return proc

    def start_simulators(self) -> None:
        """Serve the simulators from this process (Django set up with the stack's environment)."""
        os.environ.update({k: v for k, v in self.env.items() if k.startswith(("PROCEDO_", "DATABASE_URL", "SECRET_KEY"))})
        sys.path.insert(0, str(ROOT))
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
        import django

        django.setup()
        from connectors.simulators import simulator_factories

        factories = simulator_factories()
        for platform in PLATFORMS:
            if platform in factories:
                self.start_simulator(platform, app=factories[platform]())

    def start_simulator(self, platform: str, app=None) -> None:
        from connectors.base.simulator import SimulatorServer

        app = app or self.simulators[platform].app  # a restart keeps the platform's state and its request log
        port = self._sim_ports.get(platform) or (free_port() if os.environ.get("DRILL_PORTS") else 0)
        server = SimulatorServer(app, host="127.0.0.1", port=port)
        server.start()
        self.simulators[platform] = server
        if platform not in self._sim_ports:  # first start: an ephemeral port, then the stack is told where
            self._sim_ports[platform] = server.port
            self.env[f"PROCEDO_{platform.upper()}_BASE_URL"] = server.url
            if platform == "pdnd":
                self.env["PROCEDO_PDND_TOKEN_URL"] = server.url + "/token.oauth2"
            # The simulators find each other (ANPR checks vouchers against PDND) through this process's
            # settings, read once at start-up: tell them too.
            from django.conf import settings

            for key, value in self.env.items():
                if key.startswith(f"PROCEDO_{platform.upper()}_"):
                    os.environ[key] = value
                    setattr(settings, key, value)

    def stop_simulator(self, platform: str) -> None:
        self.simulators[platform].stop()

    def start_web(self, name: str = "gunicorn", port: int | None = None) -> None:
        """A gunicorn process (its own process group); several on their own ports behind a proxy. The
        access log carries each request's time inside gunicorn (%(M)s ms): server time vs queueing."""
        port = port or self.web_port
        self._spawn(name, [str(BIN / "gunicorn"), "config.wsgi", "-w", str(self.web_workers), "-b",
                           f"127.0.0.1:{port}", "--timeout", "60", "--graceful-timeout", "5",
                           "--access-logfile", str(self.log_dir / f"access-{name}.log"),
                           "--access-logformat", "%(m)s %(U)s %(s)s %(M)s"])
        self.wait_http(f"http://127.0.0.1:{port}/accedi/")

    def start_worker(self, name: str = "celery", queues: str | None = None, beat: bool = True) -> None:
        """A Celery worker (its own process group); with `beat` it also runs the scheduler (the drills), and
        with `queues` it consumes only those (deploy/: one worker per queue, or several queues per worker).
        At nice 10, as deploy/systemd/procedo-worker@.service runs it: background work (LibreOffice renders,
        connector calls) yields the shared cores to the web processes."""
        args = ["nice", "-n", "10", str(BIN / "celery"), "-A", "config", "worker", "--loglevel=INFO",
                f"--concurrency={self.worker_concurrency}", "-n", f"{name}-{self.db}@%h"]
        if beat:
            args += ["-B", "--schedule", str(self.var_dir / "celerybeat-schedule")]
        if queues:
            args += ["-Q", queues]
        self._spawn(name, args)

    def start_beat(self, name: str = "beat") -> None:
        """The one scheduler, as a process of its own (deploy/: procedo-beat)."""
        self._spawn(name, [str(BIN / "celery"), "-A", "config", "beat", "--loglevel=INFO", "--schedule",
                           str(self.var_dir / "celerybeat-schedule")])

    def kill(self, name: str) -> None:
        """SIGKILL a whole process group: no shutdown handler runs, work in flight is lost mid-way."""
        proc = self.procs.pop(name)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()

    def kill_worker(self) -> None:
        self.kill("celery")

    def start(self) -> None:
        self.start_simulators()
        self.start_worker()
        self.start_web()

    def stop(self) -> None:
        for proc in list(self.procs.values()):
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
        deadline = time.monotonic() + 15
        for proc in self.procs.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
            try:
                os.killpg(proc.pid, signal.SIGKILL)  # stragglers of the group (converters)
            except ProcessLookupError:
                pass
        self.procs.clear()
        self._kill_leftovers()
        for server in self.simulators.values():
            try:
                server.stop()
            except Exception:  # noqa: BLE001 - already stopped by a drill
                pass

    def _kill_leftovers(self) -> None:
        """LibreOffice converters (unoserver, soffice.bin) start their own session, so the worker's process
        group does not reach them and they survive SIGTERM (issue 17, finding 12). Whatever still names this
        stack's var folder on its command line is ours: SIGKILL it by pid."""
        marker = str(self.var_dir).encode()
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            try:
                if marker in (entry / "cmdline").read_bytes():
                    os.kill(int(entry.name), signal.SIGKILL)
            except (OSError, ProcessLookupError):
                continue

    def drop(self) -> None:
        """Drop the database and the var folder (logs kept when DRILL_KEEP_VAR=1)."""
        self.psql(f'DROP DATABASE IF EXISTS "{self.db}" WITH (FORCE)')
        if os.environ.get("DRILL_KEEP_VAR") != "1":
            import shutil

            shutil.rmtree(self.var_dir, ignore_errors=True)

    @staticmethod
    def wait_http(url: str, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback
                    if response.status < 500:
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{url} did not answer within {timeout} s")
            time.sleep(0.5)

    def __enter__(self) -> Stack:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
