"""LibreOffice converters never outlive the worker that owns them (issue 17, finding 12).

Each test starts real processes (`celery -A config worker`, the demo's serve script) with a marker
of its own in their environment and a private var dir (SQLite, filesystem broker, LibreOffice
profiles), so it counts only its own processes while other test runs keep their converters alive
on the same machine. A converter is a guard, an unoserver, an oosplash or a soffice.bin.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.conf import settings

from . import procs

pytestmark = pytest.mark.skipif(shutil.which("soffice") is None or not Path("/usr/bin/python3").exists(),
                                reason="LibreOffice is not installed")

BASE_DIR = Path(settings.BASE_DIR)
PYTHON = str(BASE_DIR / ".venv" / "bin" / "python") if (BASE_DIR / ".venv" / "bin" / "python").exists() else sys.executable
REAPING_INIT = Path(__file__).with_name("reaping_init.py")
START_TIMEOUT = 180.0


@dataclass
class Run:
    """Processes started by one test, found by their marker and remembered (zombies keep no marker)."""

    process: subprocess.Popen
    marker: str
    var: Path
    log: Path
    seen: dict[tuple[int, int], procs.Proc] = field(default_factory=dict)

    def watch(self) -> list[procs.Proc]:
        alive = procs.marked(self.marker)
        for p in alive:
            self.seen[p.key] = p
        return alive

    def soffices(self) -> list[procs.Proc]:
        return [p for p in self.watch() if p.comm == "soffice.bin"]

    def converters(self) -> list[procs.Proc]:
        return [p for p in self.watch() if p.is_converter]

    def wait_for_converters(self, count: int) -> None:
        def ready() -> bool:
            if self.process.poll() is not None:
                pytest.fail(f"the process exited ({self.process.returncode}):\n{self.tail()}")
            return (len(self.soffices()) >= count
                    and self.log.read_text(errors="replace").count("converter pool started") >= count)

        if not procs.wait_until(ready, timeout=START_TIMEOUT, interval=0.5):
            pytest.fail(f"no {count} converter(s) after {START_TIMEOUT}s:\n{self.tail()}")
        self.watch()

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 120.0) -> float:
        self.watch()
        started = time.monotonic()
        self.process.send_signal(sig)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill_everything()
            pytest.fail(f"did not stop within {timeout}s after signal {sig}:\n{self.tail()}")
        return time.monotonic() - started

    def leftovers(self) -> list[procs.Proc]:
        """Every process of this run still there, alive or zombie."""
        left = {p.key: p for p in procs.marked(self.marker)}
        left.update({p.key: p for p in procs.still_there(self.seen.values())})
        return list(left.values())

    def kill_everything(self) -> None:
        for p in procs.marked(self.marker):
            try:
                os.kill(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def tail(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-3000:]
        except OSError:
            return ""


def _env(marker: str, var: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {
        "DATABASE_URL", "CELERY_BROKER_URL", "PROCEDO_DOCUMENTS_VAR_DIR", "PROCEDO_MEDIA_ROOT",
        "CELERY_TASK_ALWAYS_EAGER", "PROCEDO_DOCUMENTS_CONVERTERS"}}
    env.update({procs.MARKER_VAR: marker, "PROCEDO_VAR_DIR": str(var), "PROCEDO_CONVERTERS_PER_WORKER": "1",
                "PYTHONUNBUFFERED": "1"})
    return env


def _new_run_dir(tmp_path: Path) -> tuple[str, Path]:
    marker = uuid.uuid4().hex
    var = tmp_path / marker[:12]
    var.mkdir(parents=True)
    return marker, var


def _worker_command(marker: str, pool: str) -> list[str]:
    return [PYTHON, "-m", "celery", "-A", "config", "worker", "--pool", pool, "--concurrency", "1",
            "--loglevel", "INFO", "--hostname", f"lifecycle-{marker[:12]}@%h",
            "--without-gossip", "--without-mingle", "--without-heartbeat"]


def start_worker(tmp_path: Path, *, pool: str = "prefork") -> Run:
    marker, var = _new_run_dir(tmp_path)
    log = var / "worker.log"
    with open(log, "ab") as out:
        process = subprocess.Popen(_worker_command(marker, pool), cwd=BASE_DIR, env=_env(marker, var), stdout=out,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    return Run(process=process, marker=marker, var=var, log=log)


def start_worker_under_reaping_init(tmp_path: Path, *, pool: str) -> tuple[Run, int]:
    """The worker as the child of a reaping init; returns the run (whose process is the init) and
    the worker's pid."""
    marker, var = _new_run_dir(tmp_path)
    log = var / "worker.log"
    process = subprocess.Popen([PYTHON, "-I", str(REAPING_INIT), str(log), *_worker_command(marker, pool)],
                               cwd=BASE_DIR, env=_env(marker, var), stdout=subprocess.PIPE, stdin=subprocess.DEVNULL,
                               start_new_session=True)
    assert process.stdout is not None
    worker_pid = int(process.stdout.readline())
    return Run(process=process, marker=marker, var=var, log=log), worker_pid


@pytest.fixture
def runs():
    started: list[Run] = []
    yield started
    for run in started:  # a failed test must not leak either
        if run.process.poll() is None:
            run.process.kill()
            run.process.wait()
        run.kill_everything()


def test_ten_starts_and_stops_of_a_worker_leave_no_libreoffice_process(tmp_path, runs, capsys):
    stop_times = []
    for _ in range(10):
        run = start_worker(tmp_path)
        runs.append(run)
        run.wait_for_converters(1)
        assert len([p for p in run.converters() if p.is_libreoffice]) >= 2  # oosplash + soffice.bin
        stop_times.append(run.stop(signal.SIGTERM))
        assert run.process.returncode == 0, run.tail()
        assert run.leftovers() == [], procs.describe(run.leftovers())
        assert "converter pool started" in run.tail()
    with capsys.disabled():
        print(f"\nworker stop (SIGTERM, 1 converter): {', '.join(f'{t:.1f}' for t in stop_times)} s")


@pytest.mark.parametrize(("pool", "sig"), [
    ("prefork", signal.SIGINT),   # Ctrl-C: warm shutdown
    ("prefork", signal.SIGQUIT),  # cold shutdown: Celery SIGTERMs its children, which die at once
    ("solo", signal.SIGTERM),     # converters in the worker's own process
    ("threads", signal.SIGINT),
])
def test_every_pool_and_shutdown_signal_stops_the_converters(tmp_path, runs, pool, sig):
    run = start_worker(tmp_path, pool=pool)
    runs.append(run)
    run.wait_for_converters(1)
    run.stop(sig)
    assert run.leftovers() == [], procs.describe(run.leftovers())


def _wait_gone(run: Run, victims: list[procs.Proc], timeout: float = 20.0) -> list[procs.Proc]:
    procs.wait_until(lambda: not procs.still_there(victims), timeout=timeout)
    return procs.still_there(victims)


def test_a_sigkilled_prefork_child_takes_its_converters_with_it(tmp_path, runs):
    run, main_pid = start_worker_under_reaping_init(tmp_path, pool="prefork")
    runs.append(run)
    run.wait_for_converters(1)
    guard = next(p for p in run.converters() if "converter_guard" in p.cmdline)
    child = procs.read(guard.ppid)
    assert child is not None and child.ppid == main_pid  # the pool process that owns the converter
    victims = [p for p in run.converters() if p.pid != main_pid]

    os.kill(child.pid, signal.SIGKILL)  # no hook can run: the guard must notice by itself

    assert _wait_gone(run, victims) == [], procs.describe(procs.still_there(victims))
    # Celery replaced the child, and the new child has converters of its own; a warm stop ends them.
    run.wait_for_converters(1)
    os.kill(main_pid, signal.SIGTERM)
    assert procs.wait_until(lambda: not procs.descendants(main_pid), timeout=60), run.tail()
    # Celery 5.7's main process never exits after one of its children was SIGKILLed (warm or cold
    # shutdown, with or without converters): it has no child left by now, so end it.
    if run.process.poll() is None and procs.read(main_pid) is not None:
        os.kill(main_pid, signal.SIGKILL)
    run.process.wait(timeout=30)  # the reaping init exits once nothing is left under it
    assert run.leftovers() == [], procs.describe(run.leftovers())


def test_a_sigkilled_solo_worker_leaves_no_converter_and_no_zombie(tmp_path, runs):
    run, worker_pid = start_worker_under_reaping_init(tmp_path, pool="solo")
    runs.append(run)
    run.wait_for_converters(1)
    assert all(p.pid != worker_pid for p in run.converters())

    os.kill(worker_pid, signal.SIGKILL)

    run.process.wait(timeout=30)  # the init exits only when every process under it was reaped
    assert run.process.returncode == 0
    assert run.leftovers() == [], procs.describe(run.leftovers())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_stopping_the_demo_stops_its_worker_and_converters(tmp_path, runs, sig):
    """The serving half of `make run` (scripts/serve-demo.sh: simulators, a worker with two pool
    processes, beat, web server). Its setup half (migrations, demo data) starts no converter.
    Every process of the demo is counted, not only converters."""
    marker, var = _new_run_dir(tmp_path)
    log = var / "demo.log"
    env = _env(marker, var) | {"PROCEDO_DEMO_PORT": str(_free_port())}
    with open(log, "ab") as out:
        process = subprocess.Popen(["bash", str(BASE_DIR / "scripts" / "serve-demo.sh")], cwd=BASE_DIR, env=env,
                                   stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   start_new_session=True)
    run = Run(process=process, marker=marker, var=var, log=log)
    runs.append(run)
    run.wait_for_converters(2)  # --concurrency=2: one converter per pool process

    run.stop(sig)

    assert process.returncode == (143 if sig == signal.SIGTERM else 130), run.tail()
    assert run.leftovers() == [], procs.describe(run.leftovers())
    assert "Warm shutdown" in log.read_text(errors="replace")
