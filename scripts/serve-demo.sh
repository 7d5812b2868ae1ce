#!/usr/bin/env bash
# The serving half of `make run` (scripts/run-demo.sh sets up the database first): simulators,
# Celery worker, Celery beat and the web server, until Ctrl-C or SIGTERM.
#
# Stopping is owned here: on Ctrl-C, SIGTERM or the exit of any of the three, every child is sent
# SIGTERM and waited for (the worker stops its LibreOffice converters and waits for them too), and
# whatever is still running after PROCEDO_DEMO_STOP_TIMEOUT seconds (default 60) is SIGKILLed.
# Nothing is left behind: no converter, no zombie.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
PORT="${PROCEDO_DEMO_PORT:-8000}"
STOP_TIMEOUT="${PROCEDO_DEMO_STOP_TIMEOUT:-60}"
# Demo secrets: say so, or Procedo refuses to start (it is production unless told otherwise).
export DEBUG="${DEBUG:-1}"
export PROCEDO_ENV="${PROCEDO_ENV:-demo}"

pids=()
stop_children() {
  # A second Ctrl-C while stopping must not abandon the children half-way.
  trap '' INT TERM
  trap - EXIT
  local p
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  local deadline=$((SECONDS + STOP_TIMEOUT))
  for p in "${pids[@]}"; do
    while kill -0 "$p" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.2; done
    if kill -0 "$p" 2>/dev/null; then
      echo "ATTENZIONE: il processo $p non si è fermato in ${STOP_TIMEOUT}s: terminato." >&2
      kill -KILL "$p" 2>/dev/null || true
    fi
    wait "$p" 2>/dev/null || true
  done
}
trap 'stop_children; exit 130' INT
trap 'stop_children; exit 143' TERM
trap 'stop_children' EXIT

if $BIN/python manage.py help run_simulators >/dev/null 2>&1; then
  $BIN/python manage.py run_simulators & pids+=($!)
fi
$BIN/celery -A config worker --loglevel=INFO --concurrency=2 & worker=$!; pids+=($worker)
# The scheduler (timers and the outbox sweep) as a child of this script, not embedded in the worker
# (-B): the worker does not always wait for an embedded beat, which was then left as a zombie.
$BIN/celery -A config beat --loglevel=INFO --schedule var/celerybeat-schedule & beat=$!; pids+=($beat)
$BIN/python manage.py runserver "127.0.0.1:$PORT" --noreload & web=$!; pids+=($web)

echo
echo "Procedo demo: http://127.0.0.1:$PORT/  (API: /api/v1/, docs: /api/docs/, admin: /admin/)"
echo "Users: registrar.capannori, police.capannori, supervisor.capannori, ... password 'demo'"
echo "process_admin.capannori / process_admin.lucca also need a second factor: add the key GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
echo "  to an authenticator app, or print the current code with: PROCEDO_ENV=demo $BIN/python manage.py otp_code process_admin.capannori"
# `wait` (unlike a foreground command) lets the traps run as soon as a signal arrives. The demo ends
# when the worker, beat or the web server ends (simulators that cannot bind their ports do not end it).
wait -n "$worker" "$beat" "$web" || true
