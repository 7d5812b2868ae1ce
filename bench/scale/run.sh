#!/usr/bin/env bash
# Scale benchmark (issue 16), one command: bulk data for 200 municipalities, server time per municipality
# size, the fault run on the production topology (nginx, 2 web, 2 workers + beat on RabbitMQ), the cost per
# municipality; figures in bench/RESULTS.md ("Scale: many municipalities").
#   bash bench/scale/run.sh
#   SCALE_CASES=20000 SCALE_ITEMS=100000 SCALE_EVENTS=200000 SCALE_TENANTS=20 SCALE_FAULT_SECONDS=60 bash bench/scale/run.sh
#   SCALE_PHASES=measure bash bench/scale/run.sh      (one phase again; the others' figures are kept)
# Needs root for rabbitmqctl (a vhost of its own) and /proc of the PostgreSQL backends (CPU accounting).
set -euo pipefail
cd "$(dirname "$0")/../.."
exec .venv/bin/python bench/scale/run.py
