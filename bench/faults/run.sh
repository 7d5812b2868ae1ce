#!/usr/bin/env bash
# Fault drill, one command (root: tmpfs mount, private PostgreSQL as the postgres user).
#   bash bench/faults/run.sh     SIM_DOWN=20 CASES=2 bash bench/faults/run.sh   PHASES=a,c ...
set -euo pipefail
cd "$(dirname "$0")/../.."
exec .venv/bin/python bench/faults/run.py
