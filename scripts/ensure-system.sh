#!/usr/bin/env bash
# Install (apt, when root) the Debian packages listed in scripts/apt/*.txt and
# start PostgreSQL and Redis when they are not running. Not root: name what is
# missing and stop.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
for list in scripts/apt/*.txt; do
  while IFS= read -r line; do
    line="${line%%#*}"; line="$(echo "$line" | xargs)"
    [ -z "$line" ] && continue
    if [[ "$line" == *:* ]]; then
      cmd="${line%%:*}"; pkg="${line#*:}"
      command -v "$cmd" >/dev/null 2>&1 || missing+=("$pkg")
    else
      dpkg -s "$line" >/dev/null 2>&1 || missing+=("$line")
    fi
  done < "$list"
done

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "Installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "Missing system packages (install them as root): ${missing[*]}" >&2
    exit 1
  fi
fi

# PostgreSQL
if ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    ver=$(ls /etc/postgresql | sort -n | tail -1)
    pg_ctlcluster --skip-systemctl-redirect "$ver" main start
    for _ in $(seq 1 30); do pg_isready -h 127.0.0.1 -p 5432 -q && break; sleep 1; done
  else
    echo "PostgreSQL is not running on 127.0.0.1:5432" >&2; exit 1
  fi
fi
# Redis
if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    mkdir -p /var/lib/redis /var/log/redis
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
      --dir /var/lib/redis --logfile /var/log/redis/ci.log
    for _ in $(seq 1 30); do redis-cli -h 127.0.0.1 ping >/dev/null 2>&1 && break; sleep 1; done
  else
    echo "Redis is not running on 127.0.0.1:6379" >&2; exit 1
  fi
fi

# RabbitMQ (tests/deploy run the production queues on it)
if ! (exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v rabbitmq-server >/dev/null 2>&1; then
    rabbitmq-server -detached
    for _ in $(seq 1 60); do (exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null && break; sleep 1; done
  else
    echo "RabbitMQ is not running on 127.0.0.1:5672" >&2; exit 1
  fi
fi

# Extra per-area setup hooks (e.g. fonts, SoftHSM2 tokens), if any.
for hook in scripts/setup.d/*.sh; do
  [ -e "$hook" ] && bash "$hook"
done
exit 0
