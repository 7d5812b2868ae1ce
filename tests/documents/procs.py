"""Process accounting for the converter lifecycle tests, read from /proc (Linux).

Other test runs on the same machine legitimately keep converters alive, so a test counts only the
processes it started: those whose environment carries its own marker, or the descendants of a
process it started. A zombie has neither environment nor command line left, so a test also
remembers every (pid, start time) it saw and checks that none of them still exists in any state.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

MARKER_VAR = "PROCEDO_TEST_PROCESS_MARKER"
LIBREOFFICE_COMMS = frozenset({"soffice.bin", "oosplash", "soffice"})


@dataclass(frozen=True)
class Proc:
    pid: int
    ppid: int
    state: str
    comm: str
    start: int  # clock ticks since boot: (pid, start) names one process even if the pid is reused
    cmdline: str

    @property
    def key(self) -> tuple[int, int]:
        return (self.pid, self.start)

    @property
    def is_zombie(self) -> bool:
        return self.state == "Z"

    @property
    def is_converter(self) -> bool:
        """A LibreOffice process, an unoserver or a converter guard."""
        return (self.comm in LIBREOFFICE_COMMS or "unoserver" in self.cmdline
                or "converter_guard" in self.cmdline)

    @property
    def is_libreoffice(self) -> bool:
        return self.comm in LIBREOFFICE_COMMS


def read(pid: int) -> Proc | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except (FileNotFoundError, ProcessLookupError):
        return None
    comm = stat[stat.index("(") + 1:stat.rindex(")")]
    fields = stat[stat.rindex(")") + 2:].split()
    return Proc(pid=pid, ppid=int(fields[1]), state=fields[0], comm=comm, start=int(fields[19]), cmdline=cmdline.strip())


def every() -> list[Proc]:
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit() and (proc := read(int(name))) is not None:
            found.append(proc)
    return found


def _environ_has(pid: int, marker: str) -> bool:
    try:
        return f"{MARKER_VAR}={marker}".encode() in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return False


def marked(marker: str) -> list[Proc]:
    """Living processes started with this marker in their environment."""
    return [p for p in every() if not p.is_zombie and _environ_has(p.pid, marker)]


def descendants(pid: int) -> list[Proc]:
    procs = every()
    children: dict[int, list[Proc]] = {}
    for p in procs:
        children.setdefault(p.ppid, []).append(p)
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child.pid)
    return found


def still_there(seen: Iterable[Proc]) -> list[Proc]:
    """Of the processes seen earlier, those that still exist, alive or zombie."""
    left = []
    for old in seen:
        now = read(old.pid)
        if now is not None and now.start == old.start:
            left.append(now)
    return left


def wait_until(predicate, *, timeout: float, interval: float = 0.2):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


def describe(procs: Iterable[Proc]) -> str:
    return "; ".join(f"{p.pid} {p.state} {p.comm} {p.cmdline[:120]}" for p in procs) or "none"
