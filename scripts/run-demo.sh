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
# SPID: the SP's public URL is this server's; citizens sign in to the first demo municipality through
# the demo identity provider (/demo-idp/, fictitious identities).
export PROCEDO_SPID_BASE_URL="${PROCEDO_SPID_BASE_URL:-http://127.0.0.1:${PROCEDO_DEMO_PORT:-8000}}"
export PROCEDO_SPID_TENANT="${PROCEDO_SPID_TENANT:-capannori}"
$BIN/python manage.py spid_setup  # demo SP and IdP certificates under var/identity/ (idempotent)
$BIN/python manage.py sync_processes
$BIN/python manage.py load_demo

# The simulators, the worker and the web server; it stops them all, and waits for them, on Ctrl-C
# or SIGTERM.
exec bash scripts/serve-demo.sh
