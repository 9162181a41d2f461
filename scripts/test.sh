#!/usr/bin/env bash
# The test command (`make test`): installs what the tests need, starts their services
# (Redis and PostgreSQL in a temp dir), then runs ruff, the import contracts (layers, in
# pyproject.toml), the migration check and pytest.
# Arguments are passed to pytest.
set -euo pipefail
source "$(dirname "$0")/common.sh"
cd "$ROOT"

ensure_debian_packages redis-server:redis-server redis-cli:redis-tools bird:bird2 \
  /usr/sbin/sshd:openssh-server ip:iproute2 ping:iputils-ping chromium:chromium \
  /usr/sbin/libvirtd:libvirt-daemon-system virsh:libvirt-clients \
  virt-qemu-run:libvirt-daemon-driver-qemu \
  qemu-system-x86_64:qemu-system-x86 lxd:lxd lxc:lxd-client busybox:busybox-static cpio:cpio \
  nft:nftables iperf3:iperf3 nc:netcat-openbsd
ensure_debian_packages qemu-img:qemu-utils mkfs.btrfs:btrfs-progs mke2fs:e2fsprogs
ensure_postgres_binaries
ensure_venv requirements-dev.txt

SERVICES_DIR="$(mktemp -d /tmp/fabric-test.XXXXXX)"
chmod 755 "$SERVICES_DIR"
cleanup() {
  stop_postgres "$SERVICES_DIR"
  stop_redis "$SERVICES_DIR"
  rm -rf "$SERVICES_DIR"
}
trap cleanup EXIT

REDIS_PORT="$(free_port)"
PG_PORT="$(free_port)"
say "Starting Redis on 127.0.0.1:$REDIS_PORT and PostgreSQL in $SERVICES_DIR"
start_redis "$SERVICES_DIR" "$REDIS_PORT"
start_postgres "$SERVICES_DIR" "$PG_PORT"

export DATABASE_URL="postgres://postgres@${SERVICES_DIR//\//%2F}:$PG_PORT/fabric"
export CELERY_BROKER_URL="redis://127.0.0.1:$REDIS_PORT/0"
export FABRIC_TEST_REDIS_DIR="$SERVICES_DIR"
export FABRIC_TEST_REDIS_PORT="$REDIS_PORT"
export SECRET_KEY="test-only-secret-key"
# A fixed test-only Fernet key (off DEBUG the settings refuse to start without one).
export FIELD_ENCRYPTION_KEY="dGVzdC1vbmx5LWZpZWxkLWVuY3J5cHRpb24ta2V5LTA="
# Fail fast: few retries, short backoff and verification windows (the lab's Junos
# "minute" is 6 s, so a 5-minute commit confirmed outlasts the 20 s verification).
export FABRIC_TASK_MAX_RETRIES=2 FABRIC_RETRY_BASE_SECONDS=0.2 FABRIC_VERIFY_TIMEOUT=20
export FABRIC_SSH_CONNECT_TIMEOUT=3
# Hundreds of requests per test from one client: the throttle tests set low rates themselves.
export FABRIC_API_THROTTLE_ANON=100000/min FABRIC_API_THROTTLE_AUTHENTICATED=100000/min
# No VT-x/AMD-V on these machines: libvirt guests run under QEMU's TCG (`kvm` on real hosts).
export FABRIC_LIBVIRT_DOMAIN_TYPE=qemu
export FABRIC_VAR_DIR="$SERVICES_DIR/var"
# The lab's Django app (lab/seeding: seed_lab), which the lab tests use.
export FABRIC_LAB=1
mkdir -p "$FABRIC_VAR_DIR/static"

if [ -z "${SKIP_CHECKS:-}" ]; then  # SKIP_CHECKS=1: pytest only, while iterating locally
  say "ruff"
  "$VENV/bin/ruff" check .
  "$VENV/bin/ruff" format --check .
  say "import contracts (lint-imports)"
  "$VENV/bin/lint-imports" --no-cache --no-logo
  say "makemigrations --check"
  "$PY" manage.py makemigrations --check --dry-run >/dev/null || {
    "$PY" manage.py makemigrations --check --dry-run; exit 1; }
fi
say "pytest"
set +e
"$PY" -m pytest "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
  say "pytest collected no tests for: $*"
  [ $# -gt 0 ] && exit 0
  exit 1
fi
exit "$status"
