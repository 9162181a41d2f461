#!/usr/bin/env bash
# The run command (`make run`): installs, migrates, creates the admin user, and starts
# Redis (when none answers), a Celery worker, Celery beat and the web app on
# 127.0.0.1:8000. Ctrl-C stops everything it started. Its SECRET_KEY and FIELD_ENCRYPTION_KEY
# are made on the first run in var/ (mode 0600) and reused.
set -euo pipefail
source "$(dirname "$0")/common.sh"
cd "$ROOT"
WITH_LAB=""
[ "${1:-}" = "--lab" ] && WITH_LAB=1
# The lab's Django app (seed_lab) is installed only on the lab.
[ -n "$WITH_LAB" ] && export FABRIC_LAB=1

ensure_venv requirements.txt
export FABRIC_VAR_DIR="${FABRIC_VAR_DIR:-$ROOT/var}"
mkdir -p "$FABRIC_VAR_DIR/redis" "$FABRIC_VAR_DIR/static"
# Keys of this machine, made on the first run (var/secret_key, var/field_encryption_key).
ensure_local_secrets "$FABRIC_VAR_DIR"
# Plain http on 127.0.0.1: cookies without the Secure flag (on by default off DEBUG).
export SESSION_COOKIE_SECURE="${SESSION_COOKIE_SECURE:-0}" CSRF_COOKIE_SECURE="${CSRF_COOKIE_SECURE:-0}"
export CELERY_BROKER_URL="${CELERY_BROKER_URL:-redis://127.0.0.1:6379/0}"

pids=()
cleanup() {
  trap - INT TERM EXIT
  say "Stopping"
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [ -n "${OWN_REDIS:-}" ] && stop_redis "$FABRIC_VAR_DIR/redis"
  if [ -n "$WITH_LAB" ]; then
    say "The lab stays up (namespaces, BIRD, the Junos simulator): make lab-down removes it"
  fi
}
trap cleanup INT TERM EXIT

redis_port="$("$PY" -c 'import os,urllib.parse as u; print(u.urlparse(os.environ["CELERY_BROKER_URL"]).port or 6379)')"
if ! "$PY" -c "import redis,os; redis.Redis.from_url(os.environ['CELERY_BROKER_URL']).ping()" 2>/dev/null; then
  ensure_debian_packages redis-server:redis-server redis-cli:redis-tools
  say "Starting Redis on 127.0.0.1:$redis_port"
  start_redis "$FABRIC_VAR_DIR/redis" "$redis_port"
  OWN_REDIS=1
fi

say "Migrating the database"
"$PY" manage.py migrate --no-input -v 0
"$PY" manage.py ensure_admin
if [ -n "$WITH_LAB" ]; then
  [ "$(id -u)" -eq 0 ] || { say "The lab needs root (network namespaces)."; exit 1; }
  ensure_debian_packages bird:bird2 /usr/sbin/sshd:openssh-server ip:iproute2 ping:iputils-ping
  say "Bringing the lab up (network namespaces; make lab-down removes it)"
  "$PY" -m lab up
  "$PY" manage.py seed_lab
fi

say "Starting the Celery worker and beat (logs in $FABRIC_VAR_DIR)"
"$PY" -m celery -A fabric_portal worker --loglevel=INFO >"$FABRIC_VAR_DIR/worker.log" 2>&1 &
pids+=($!)
"$PY" -m celery -A fabric_portal beat --loglevel=INFO \
  --schedule "$FABRIC_VAR_DIR/celerybeat-schedule" >"$FABRIC_VAR_DIR/beat.log" 2>&1 &
pids+=($!)

say "Web app on http://127.0.0.1:8000/login/ (Ctrl-C stops everything)"
"$PY" manage.py runserver --noreload 127.0.0.1:8000 &
pids+=($!)
wait -n "${pids[@]}"
