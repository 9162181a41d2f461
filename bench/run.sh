#!/usr/bin/env bash
# `make bench`: start PostgreSQL and Redis like the test command, then run each benchmark
# (or the ones named: bash bench/run.sh rr_config ip_allocation; the lab ones, as root:
# order_to_route node_add isolation worker_killed). Each prints a table.
set -euo pipefail
source "$(dirname "$0")/../scripts/common.sh"
cd "$ROOT"
ensure_debian_packages redis-server:redis-server redis-cli:redis-tools bird:bird2 \
  /usr/sbin/sshd:openssh-server ip:iproute2 ping:iputils-ping nft:nftables iperf3:iperf3
ensure_postgres_binaries
ensure_venv requirements-dev.txt

SERVICES_DIR="$(mktemp -d /tmp/fabric-bench.XXXXXX)"
chmod 755 "$SERVICES_DIR"
trap 'stop_postgres "$SERVICES_DIR"; stop_redis "$SERVICES_DIR"; rm -rf "$SERVICES_DIR"' EXIT
REDIS_PORT="$(free_port)"; PG_PORT="$(free_port)"
start_redis "$SERVICES_DIR" "$REDIS_PORT"
start_postgres "$SERVICES_DIR" "$PG_PORT"
export DATABASE_URL="postgres://postgres@${SERVICES_DIR//\//%2F}:$PG_PORT/fabric"
export CELERY_BROKER_URL="redis://127.0.0.1:$REDIS_PORT/0"
export SECRET_KEY="bench-only-secret-key" FABRIC_VAR_DIR="$SERVICES_DIR/var"
ensure_local_secrets "$FABRIC_VAR_DIR"  # FIELD_ENCRYPTION_KEY (SECRET_KEY is the one above)
mkdir -p "$FABRIC_VAR_DIR/static"
"$PY" manage.py migrate -v 0

echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(uname -r), $(bird --version 2>&1)"
for bench in "${@:-rr_config ip_allocation}"; do
  for name in $bench; do
    echo; echo "== $name"
    "$PY" -m "bench.$name"
  done
done
