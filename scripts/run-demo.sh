#!/usr/bin/env bash
# `make run`: the demo on the embedded defaults (SQLite, filesystem broker, no servers
# to install), with the shipped procedures, demo data and the connector simulators.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
mkdir -p var/broker/processed var/media
export DEBUG="${DEBUG:-1}"
# The demo runs on public demo secrets (SECRET_KEY, signing certificate): say so, or Procedo refuses to start.
export PROCEDO_ENV="${PROCEDO_ENV:-demo}"

# Deeds are rendered by LibreOffice: install the system packages when they are missing (apt when
# root; otherwise the script names what is missing and the demo runs without rendering).
if ! command -v soffice >/dev/null 2>&1; then
  bash scripts/ensure-system.sh || echo "ATTENZIONE: LibreOffice manca, i documenti non saranno generati."
fi
$BIN/python manage.py migrate --noinput
$BIN/python manage.py documents_setup  # demo signing certificates under var/ (idempotent)
$BIN/python manage.py sync_processes
$BIN/python manage.py load_demo

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT INT TERM

if $BIN/python manage.py help run_simulators >/dev/null 2>&1; then
  $BIN/python manage.py run_simulators & pids+=($!)
fi
# Worker and scheduler in one process (beat embedded): timers and the outbox sweep.
$BIN/celery -A config worker -B --loglevel=INFO --concurrency=2 \
  --schedule var/celerybeat-schedule & pids+=($!)

echo
echo "Procedo demo: http://127.0.0.1:8000/  (API: /api/v1/, docs: /api/docs/, admin: /admin/)"
echo "Users: registrar.capannori, police.capannori, supervisor.capannori, ... password 'demo'"
echo "process_admin.capannori / process_admin.lucca also need a second factor: add the key GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
echo "  to an authenticator app, or print the current code with: $BIN/python manage.py otp_code process_admin.capannori"
$BIN/python manage.py runserver 127.0.0.1:8000 --noreload
