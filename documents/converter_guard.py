"""Guard of one LibreOffice converter: runs unoserver as its child and never lets it, or the
LibreOffice processes under it, outlive the worker that owns them.

Run by the system python3 (like unoserver itself), so it imports nothing but the standard library,
in isolated mode (-I: this folder holds modules, such as selectors.py, that shadow the stdlib):

    /usr/bin/python3 -I converter_guard.py --owner <pid> [--grace 3] -- <unoserver command...>

Why a guard and not unoserver directly: unoserver starts `soffice` (oosplash), which starts
`soffice.bin`. The worker can only ask the kernel to signal its *direct* child when it dies
(PR_SET_PDEATHSIG), and a LibreOffice process whose parent died is handed to PID 1, which in some
containers never reaps it: it stays a zombie forever. So the guard
- is a child subreaper (PR_SET_CHILD_SUBREAPER): LibreOffice processes orphaned under it come to
  it, and it reaps every one of them (no zombies);
- is told by the kernel when its owner dies (PR_SET_PDEATHSIG), and also checks its parent id, so even a SIGKILLed worker leaves nothing running;
- on SIGTERM/SIGINT, on its owner's death, or when unoserver exits on its own (LibreOffice crashed
  or a conversion timed out), it ends the converter's whole process group: SIGTERM, then SIGKILL
  after `--grace` seconds, and waits for every process in it before exiting.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import signal
import subprocess
import sys
import time

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
# The owner asks the kernel for this signal when it dies. The kernel sends it when the owner's
# *thread* that spawned the guard exits, even if the owner process lives on, so on this signal
# the guard only stops when its parent process id has really changed.
OWNER_DIED_SIGNAL = signal.SIGHUP
POLL_SECONDS = 0.25


def prctl(option: int, value: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(option, value, 0, 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


class _Stop(Exception):
    pass


def _reap_all(*, block: bool) -> list[tuple[int, int]]:
    """Wait for every child that has exited (adopted orphans included)."""
    reaped = []
    while True:
        try:
            pid, status = os.waitpid(-1, 0 if block else os.WNOHANG)
        except ChildProcessError:
            return reaped
        if pid == 0:
            return reaped
        reaped.append((pid, status))


def _children() -> set[int]:
    pids: set[int] = set()
    task_dir = f"/proc/{os.getpid()}/task"
    try:
        tasks = os.listdir(task_dir)
    except OSError:
        return pids
    for task in tasks:
        try:
            with open(f"{task_dir}/{task}/children") as fh:
                pids.update(int(p) for p in fh.read().split())
        except OSError:
            continue
    return pids


def _signal_all(group: int, sig: int) -> None:
    try:
        os.killpg(group, sig)
    except (ProcessLookupError, PermissionError):
        pass
    # Orphans adopted by the guard are in the same group, but send to them too in case one moved.
    for pid in _children():
        try:
            os.kill(pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


def shutdown(group: int, grace: float) -> None:
    """End the converter's process group, then wait for each of its processes."""
    _signal_all(group, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        _reap_all(block=False)
        if not _children():
            return
        time.sleep(0.05)
    _signal_all(group, signal.SIGKILL)
    _reap_all(block=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="converter_guard")
    parser.add_argument("--owner", type=int, required=True, help="process id of the owning worker")
    parser.add_argument("--grace", type=float, default=3.0, help="seconds between SIGTERM and SIGKILL")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("missing the command to guard")

    prctl(PR_SET_CHILD_SUBREAPER, 1)

    def stop(signum, frame):  # noqa: ARG001
        raise _Stop

    def owner_died(signum, frame):  # noqa: ARG001
        if os.getppid() != args.owner:
            raise _Stop

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    signal.signal(OWNER_DIED_SIGNAL, owner_died)
    # Set here rather than in the owner's preexec_fn: a preexec_fn is unsafe in a threaded worker.
    # Checking the parent afterwards closes the race of an owner dying before the call.
    prctl(PR_SET_PDEATHSIG, OWNER_DIED_SIGNAL)
    if os.getppid() != args.owner:
        return 1

    handled = {signal.SIGTERM, signal.SIGINT, OWNER_DIED_SIGNAL}

    def child_setup() -> None:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, handled)
        # If the guard itself is SIGKILLed, unoserver goes with it.
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL)

    group = 0
    code = 1
    try:
        # A stop request between fork and knowing the child's id would leave the child unguarded.
        signal.pthread_sigmask(signal.SIG_BLOCK, handled)
        try:
            child = subprocess.Popen(command, process_group=0, preexec_fn=child_setup)
            group = child.pid
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, handled)
        while True:
            for pid, status in _reap_all(block=False):
                if pid == child.pid:
                    code = os.waitstatus_to_exitcode(status)
                    child.returncode = code
                    raise _Stop
            if os.getppid() != args.owner:
                raise _Stop
            time.sleep(POLL_SECONDS)
    except _Stop:
        pass
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(OWNER_DIED_SIGNAL, signal.SIG_IGN)
        if group:
            shutdown(group, args.grace)
    return code


if __name__ == "__main__":
    sys.exit(main())
