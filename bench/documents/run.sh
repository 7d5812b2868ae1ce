#!/usr/bin/env bash
# Documents benchmark; figures to bench/documents/RESULTS.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
.venv/bin/python bench/documents/bench_documents.py "$@"
