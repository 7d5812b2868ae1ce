"""Converter lifecycle drill (issue 17, finding 12): start and stop a Celery worker and the demo
N times each, then count what is left of them: LibreOffice processes, any other process, zombies.

Run: .venv/bin/python bench/converters/lifecycle.py [--cycles 10]
Figures go to bench/converters/RESULTS.md (and stdout).

Each run gets its own environment marker and var dir (SQLite, filesystem broker, profiles), so
converters of other programs on the machine are not counted; `pgrep -c soffice` before and after
is reported for the whole machine as well.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.documents import procs  # noqa: E402

PYTHON = str(ROOT / ".venv" / "bin" / "python")


def _pgrep_soffice() -> int:
    out = subprocess.run(["pgrep", "-c", "soffice"], capture_output=True, text=True).stdout.strip()
    return int(out or 0)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def one_cycle(kind: str, base: Path) -> dict:
    marker = uuid.uuid4().hex
    var = base / marker[:12]
    var.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "CELERY_BROKER_URL"}}
    env.update({procs.MARKER_VAR: marker, "PROCEDO_VAR_DIR": str(var), "PROCEDO_CONVERTERS_PER_WORKER": "1"})
    if kind == "worker":
        cmd = [PYTHON, "-m", "celery", "-A", "config", "worker", "--pool", "prefork", "--concurrency", "1",
               "--loglevel", "INFO", "--without-gossip", "--without-mingle", "--without-heartbeat"]
        expected = 1
    else:
        cmd = ["bash", str(ROOT / "scripts" / "serve-demo.sh")]
        env["PROCEDO_DEMO_PORT"] = str(_free_port())
        expected = 2
    log = var / "out.log"
    started = time.monotonic()
    with open(log, "ab") as out:
        process = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
    seen: dict = {}

    def ready() -> bool:
        for p in procs.marked(marker):
            seen[p.key] = p
        soffices = [p for p in seen.values() if p.comm == "soffice.bin" and procs.still_there([p])]
        return len(soffices) >= expected and log.read_text(errors="replace").count("converter pool started") >= expected

    if not procs.wait_until(ready, timeout=180, interval=0.5):
        process.kill()
        raise SystemExit(f"{kind}: converters did not start:\n{log.read_text(errors='replace')[-2000:]}")
    ready_after = time.monotonic() - started
    ready()
    libreoffice_running = sum(1 for p in seen.values() if p.is_libreoffice)
    stop_started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=180)
    stop_seconds = time.monotonic() - stop_started
    left = {p.key: p for p in procs.marked(marker)}
    left.update({p.key: p for p in procs.still_there(seen.values())})
    shutil.rmtree(var, ignore_errors=True)
    return {
        "ready": ready_after, "stop": stop_seconds, "processes": len(seen), "libreoffice": libreoffice_running,
        "left": len(left), "left_libreoffice": sum(1 for p in left.values() if p.is_libreoffice),
        "left_zombies": sum(1 for p in left.values() if p.is_zombie), "describe": procs.describe(left.values()),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cycles", type=int, default=10)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="procedo-lifecycle-"))
    before = _pgrep_soffice()
    lines = [f"# Converter lifecycle ({time.strftime('%Y-%m-%d')}, {platform.node()}, {os.cpu_count()} cores)", ""]
    lines.append("| run | cycles | converters up after (s, median) | stop (s, median / max) | processes per run | "
                 "LibreOffice per run | left: processes / LibreOffice / zombies |")
    lines.append("|---|---|---|---|---|---|---|")
    for kind in ("worker", "demo"):
        results = []
        for i in range(args.cycles):
            r = one_cycle(kind, base)
            results.append(r)
            print(f"{kind} {i + 1}/{args.cycles}: ready {r['ready']:.1f}s, stop {r['stop']:.1f}s, "
                  f"{r['processes']} processes ({r['libreoffice']} LibreOffice), left {r['left']}: {r['describe']}",
                  flush=True)
        stops = [r["stop"] for r in results]
        lines.append(
            f"| {kind} | {args.cycles} | {statistics.median(r['ready'] for r in results):.1f} | "
            f"{statistics.median(stops):.1f} / {max(stops):.1f} | {results[0]['processes']} | {results[0]['libreoffice']} | "
            f"{sum(r['left'] for r in results)} / {sum(r['left_libreoffice'] for r in results)} / "
            f"{sum(r['left_zombies'] for r in results)} |")
    after = _pgrep_soffice()
    lines += ["", f"`pgrep -c soffice` on the whole machine (other programs included): {before} before, {after} after.",
              "Worker: `celery -A config worker --pool prefork --concurrency 1`, PROCEDO_CONVERTERS_PER_WORKER=1, "
              "filesystem broker; demo: scripts/serve-demo.sh (worker --concurrency 2, beat, simulators, runserver). "
              "Stop = SIGTERM until the process exited."]
    shutil.rmtree(base, ignore_errors=True)
    text = "\n".join(lines) + "\n"
    (Path(__file__).parent / "RESULTS.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
