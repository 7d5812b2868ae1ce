#!/usr/bin/env bash
# Load drill, one command: fresh DB procedo_load, real stack on 127.0.0.1 free ports, locust headless,
# figures in bench/load/RESULTS.md. Short run while developing: DURATION=60 bash bench/load/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
exec .venv/bin/python bench/load/run.py
