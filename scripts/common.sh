# Shared by scripts/run.sh and scripts/test.sh: packages, virtualenv, local services.
# shellcheck shell=bash

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${FABRIC_VENV:-$ROOT/.venv}"
PY="$VENV/bin/python"

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# ensure_local_secrets DIR — SECRET_KEY and FIELD_ENCRYPTION_KEY for a local run: made once
# (random, mode 0600) in DIR/secret_key and DIR/field_encryption_key, then reused; the
# settings read them when the environment does not give the keys.
ensure_local_secrets() {
  local dir="$1"
  mkdir -p "$dir"
  (
    umask 077
    [ -s "$dir/secret_key" ] ||
      head -c 48 /dev/urandom | base64 | tr -d '\n' | tr '+/' '-_' >"$dir/secret_key"
    [ -s "$dir/field_encryption_key" ] ||
      head -c 32 /dev/urandom | base64 | tr -d '\n' | tr '+/' '-_' >"$dir/field_encryption_key"
  )
  chmod 600 "$dir/secret_key" "$dir/field_encryption_key"
}

# ensure_debian_packages CMD:PKG ... — install PKG when CMD is missing (root only).
ensure_debian_packages() {
  local missing=() pair cmd pkg
  for pair in "$@"; do
    cmd="${pair%%:*}"; pkg="${pair#*:}"
    if ! command -v "$cmd" >/dev/null 2>&1 && [ ! -x "$cmd" ]; then missing+=("$pkg"); fi
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -ne 0 ]; then
    say "Missing Debian packages: ${missing[*]}"
    say "Install them with: sudo apt-get install -y ${missing[*]}"
    return 1
  fi
  say "Installing Debian packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

postgres_bindir() {
  local dir
  for dir in /usr/lib/postgresql/*/bin; do
    [ -x "$dir/initdb" ] && { echo "$dir"; return 0; }
  done
  return 1
}

ensure_postgres_binaries() {
  postgres_bindir >/dev/null && return 0
  ensure_debian_packages "/usr/lib/postgresql/__none__/bin/initdb:postgresql"
  postgres_bindir >/dev/null
}

# ensure_venv REQUIREMENTS_FILE — create the virtualenv and install pinned requirements
# (skipped when the requirements have not changed since the last install).
ensure_venv() {
  local requirements="$1" stamp
  if [ ! -x "$PY" ]; then
    say "Creating virtualenv $VENV"
    python3 -m venv "$VENV" || {
      ensure_debian_packages "__none__:python3-venv"
      python3 -m venv "$VENV"
    }
  fi
  stamp="$VENV/.installed-$(cat "$ROOT/requirements.txt" "$ROOT/$requirements" | sha256sum | cut -c1-16)"
  if [ ! -f "$stamp" ]; then
    say "Installing Python packages from $requirements"
    "$PY" -m pip install -q --disable-pip-version-check -r "$ROOT/$requirements"
    touch "$stamp"
  fi
}

free_port() {
  "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start_redis DIR PORT — a private Redis with no persistence; its pid in DIR/redis.pid.
start_redis() {
  local dir="$1" port="$2"
  redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly yes --appendfsync always \
    --dir "$dir" --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" --daemonize yes
  for _ in $(seq 50); do
    redis-cli -p "$port" ping >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  say "Redis did not start; see $dir/redis.log"; return 1
}

stop_redis() {
  local dir="$1"
  [ -f "$dir/redis.pid" ] && kill "$(cat "$dir/redis.pid")" 2>/dev/null || true
}

# start_postgres DIR PORT — a throwaway PostgreSQL cluster with its socket in DIR.
start_postgres() {
  local dir="$1" port="$2" bindir as=()
  bindir="$(postgres_bindir)"
  if [ "$(id -u)" -eq 0 ]; then
    chown postgres "$dir"
    as=(runuser -u postgres --)
  fi
  "${as[@]}" "$bindir/initdb" -D "$dir/data" -A trust -U postgres >"$dir/initdb.log" 2>&1 || {
    cat "$dir/initdb.log"; return 1; }
  "${as[@]}" "$bindir/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w \
    -o "-p $port -k $dir -c listen_addresses='' -c fsync=off -c max_connections=200" start >/dev/null
  "${as[@]}" "$bindir/createdb" -h "$dir" -p "$port" -U postgres fabric
}

stop_postgres() {
  local dir="$1" bindir as=()
  [ -d "$dir/data" ] || return 0
  bindir="$(postgres_bindir)"
  [ "$(id -u)" -eq 0 ] && as=(runuser -u postgres --)
  "${as[@]}" "$bindir/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
}
