#!/usr/bin/env bash
# Documents: demo PKI (CA + signer per demo tenant) and a project-local SoftHSM2
# token under var/documents/ (SOFTHSM2_CONF points there). Idempotent.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PROCEDO_ENV="${PROCEDO_ENV:-demo}"  # the demo PKI is for the demo and the tests
.venv/bin/python manage.py documents_setup
