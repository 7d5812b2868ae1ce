"""Stand-in for a reaping init (systemd, tini, `docker run --init`) in the SIGKILL tests.

PID 1 in some containers, this one included, never reaps orphans, so the exit of a process whose
parent was SIGKILLed is only visible as a zombie there. Production runs under an init that reaps.
This harness is a child subreaper: it runs one command, adopts every orphan of its subtree, reaps
them all, and exits when no process is left under it (exit code 0), which is what the tests wait for.

    python -I reaping_init.py <log file> <command...>   (prints the command's pid on stdout)
"""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys

PR_SET_CHILD_SUBREAPER = 36


def main() -> int:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        return 3
    with open(sys.argv[1], "ab") as log:
        child = subprocess.Popen(sys.argv[2:], stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    print(child.pid, flush=True)
    while True:
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            return 0


if __name__ == "__main__":
    sys.exit(main())
