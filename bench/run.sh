#!/usr/bin/env bash
# Run every benchmark against a fresh PostgreSQL database; figures go to bench/RESULTS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
export PROCEDO_ENV="${PROCEDO_ENV:-demo}"  # demo secrets: a benchmark is never production
export DATABASE_URL="${BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/procedo_bench}"
dropdb -h 127.0.0.1 -U postgres --if-exists procedo_bench
createdb -h 127.0.0.1 -U postgres procedo_bench
.venv/bin/python manage.py migrate --noinput -v 0
.venv/bin/python bench/engine_cost.py
.venv/bin/python bench/http_completions.py
# Viewflow side by side (scratch venv for the peer, vfbench role/db created if missing) and the audit chains
# under 8 concurrent clients; the peer folder defaults to ../shared/peers/viewflow (PROCEDO_VIEWFLOW_PEER)
.venv/bin/python bench/viewflow_side_by_side.py
.venv/bin/python bench/audit_contention.py
.venv/bin/python bench/inbox_query.py
.venv/bin/python bench/inbox_page.py
.venv/bin/python bench/exports.py
.venv/bin/python bench/registry_import.py
.venv/bin/python bench/certificates.py
.venv/bin/python bench/migration.py
for extra in bench/*/run.sh; do [ -x "$extra" ] && "$extra"; done
echo "Figures written to bench/RESULTS.md"
