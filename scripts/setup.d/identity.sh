#!/usr/bin/env bash
# Identity (SPID/CIE/eIDAS): the demo SP key and certificate (Avviso SPID n. 29 v3
# profile) under var/identity/, and the spid-sp-test conformance tool in its own
# virtualenv under var/tools/spid-sp-test (its dependency spid_compliant_certificates
# pins packaging==21.2, which would break pytest in the product venv). Idempotent.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PROCEDO_ENV="${PROCEDO_ENV:-demo}"
.venv/bin/python manage.py spid_setup
tool=var/tools/spid-sp-test
if [ ! -x "$tool/bin/spid_sp_test" ]; then
  python=$(readlink -f .venv/bin/python)
  "$python" -m venv "$tool"
  "$tool/bin/pip" install -q "spid-sp-test==1.2.18"
fi
