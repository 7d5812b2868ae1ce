#!/usr/bin/env bash
# Backup drill on a loaded database: CASES residence-change cases (default 2000) with one attachment
# each, `manage.py backup`, `manage.py restore` into a second empty database and a second var folder,
# with timings and sizes written to bench/backup/RESULTS.md.
#   bash bench/backup/run.sh            CASES=200 bash bench/backup/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
CASES="${CASES:-2000}"
PG="${BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432}"
SOURCE_DB="${SOURCE_DB:-procedo_backup_source}"
TARGET_DB="${TARGET_DB:-procedo_backup_target}"
WORK="$(mktemp -d /tmp/procedo-backup-drill.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
export PROCEDO_SPECS_DIR="${PROCEDO_SPECS_DIR:-$(pwd)/../shared/specs}"
export PROCEDO_ENV="${PROCEDO_ENV:-demo}"  # demo keys and secrets: a drill is never production
PY=.venv/bin/python

for db in "$SOURCE_DB" "$TARGET_DB"; do
  psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null
  psql "$PG/postgres" -qc "CREATE DATABASE \"$db\"" >/dev/null
done
src() { DATABASE_URL="$PG/$SOURCE_DB" PROCEDO_VAR_DIR="$WORK/source-var" "$@"; }
dst() { DATABASE_URL="$PG/$TARGET_DB" PROCEDO_VAR_DIR="$WORK/target-var" "$@"; }

src $PY manage.py migrate --noinput -v 0
cp -r var/documents "$WORK/source-var/" 2>/dev/null || true   # the demo keys, as a server has them
load_out=$(src $PY bench/backup/load.py "$CASES" | tail -1)
echo "$load_out"
src $PY manage.py seal_audit >/dev/null  # the chain heads sealed, as before any backup
t0=$(date +%s.%N)
backup_out=$(src $PY manage.py backup --output "$WORK/archives/")
t1=$(date +%s.%N)
archive=$(ls "$WORK"/archives/procedo-backup-*.tar)
restore_out=$(dst $PY manage.py restore "$archive")
t2=$(date +%s.%N)
verify_out=$(dst $PY manage.py verify_audit)
echo "$backup_out"; echo "$restore_out"; echo "$verify_out"

size=$(du -h "$archive" | cut -f1)
dbsize=$(psql "$PG/$SOURCE_DB" -Atc "SELECT pg_size_pretty(pg_database_size(current_database()))")
files=$(tar tf "$archive" | wc -l)
cat > bench/backup/RESULTS.md <<MD
# Backup and restore drill

_Run $(date -u '+%Y-%m-%d %H:%M UTC') on $(nproc) cores; \`CASES=$CASES bash bench/backup/run.sh\`_

| figure | value |
|---|---|
| cases (residence change, 2 municipalities) | $CASES |
| database size (pg_database_size) | $dbsize |
| archive size / members | $size / $files |
| load | ${load_out#loaded } |
| \`manage.py backup\` wall time | $(printf '%.1f' "$(echo "$t1 - $t0" | bc)") s |
| \`manage.py restore\` wall time (incl. verification) | $(printf '%.1f' "$(echo "$t2 - $t1" | bc)") s |

\`\`\`
$backup_out
$restore_out
$verify_out
\`\`\`
MD
cat bench/backup/RESULTS.md
for db in "$SOURCE_DB" "$TARGET_DB"; do psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null; done
