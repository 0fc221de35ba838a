# Shared by scripts/federation and scripts/test: find, install and start the PostgreSQL and
# Redis that PassCom needs, under .federation/ (git-ignored), on non-default ports.
# Source it; it defines functions and variables only.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
STATE="$ROOT/.federation"
PG_PORT="${PASSCOM_PG_PORT:-54329}"
REDIS_PORT="${PASSCOM_REDIS_PORT:-63799}"
LOGS="$STATE/logs"

say() { printf '\033[1m==>\033[0m %s\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

pg_bin() {
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  [ -n "$dir" ] && [ -x "$dir/initdb" ] && echo "$dir"
}

# Debian installs haproxy in /usr/sbin, which a user's PATH may lack.
haproxy_bin() {
  command -v haproxy || { [ -x /usr/sbin/haproxy ] && echo /usr/sbin/haproxy; }
}

# Installs postgresql, redis-server and haproxy (the load balancer in front of two replicas of an
# airline, in the tests and with PASSCOM_REPLICAS=2) with apt-get when they are missing and we
# are root; otherwise prints the exact command and stops.
ensure_packages() {
  local missing=()
  if [ -z "${DATABASE_URL:-}" ] && [ -z "$(pg_bin)" ]; then missing+=(postgresql); fi
  if [ -z "${REDIS_URL:-}" ] && ! command -v redis-server >/dev/null; then missing+=(redis-server); fi
  if [ -z "${DATABASE_URL:-}" ] && ! command -v psql >/dev/null; then missing+=(postgresql-client); fi
  if [ -z "$(haproxy_bin)" ]; then missing+=(haproxy); fi
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
    say "installing ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    # The Debian package starts its own cluster on 5432; we run ours, so leave theirs alone.
  else
    die "missing ${missing[*]}; run: sudo apt-get install -y ${missing[*]}"
  fi
}

# Runs a command as the postgres user when we are root (initdb refuses to run as root).
as_pg() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

pg_admin_url() {
  if [ -n "${DATABASE_URL:-}" ]; then
    echo "$DATABASE_URL"
  else
    echo "postgres://postgres@127.0.0.1:$PG_PORT/postgres"
  fi
}

# The URL of database NAME on the same server as the admin URL.
pg_db_url() {
  local admin
  admin=$(pg_admin_url)
  echo "${admin%/*}/$1"
}

# Where the cluster lives: .federation/ of this checkout, unless we are root and the postgres
# user cannot write there (a checkout under root's own `mktemp -d`, mode 0700); then a
# directory of its own in postgres's home, named after the checkout. Prints that directory;
# the cluster is its pg/, the log its logs/postgres.log.
pg_home() {
  if [ "$(id -u)" -ne 0 ] || runuser -u postgres -- test -w "$STATE" 2>/dev/null; then
    echo "$STATE"
  else
    local home
    home=$(getent passwd postgres | cut -d: -f6)
    echo "${home:-/var/lib/postgresql}/passcom-$(printf %s "$ROOT" | cksum | cut -d' ' -f1)"
  fi
}

ensure_postgres() {
  if [ -n "${DATABASE_URL:-}" ]; then
    say "PostgreSQL: using DATABASE_URL"
    return 0
  fi
  local bin home data log
  bin=$(pg_bin) || die "PostgreSQL binaries not found"
  mkdir -p "$STATE" "$LOGS"
  if [ "$(id -u)" -eq 0 ]; then chown postgres "$STATE" "$LOGS" 2>/dev/null || true; fi
  postgres_running && return 0
  home=$(pg_home)
  data="$home/pg"
  log="$home/logs/postgres.log"
  # Another checkout's cluster may already serve this port (trust auth, same layout): use it
  # rather than fail to bind.
  if "$bin/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -U postgres; then
    say "PostgreSQL: already answering on 127.0.0.1:$PG_PORT; using it"
    return 0
  fi
  mkdir -p "$home/logs"
  if [ "$(id -u)" -eq 0 ]; then chown postgres "$home" "$home/logs"; fi
  if [ ! -f "$data/PG_VERSION" ]; then
    say "PostgreSQL: creating a cluster in $data"
    mkdir -p "$data"
    [ "$(id -u)" -eq 0 ] && chown postgres "$data"
    as_pg "$bin/initdb" -D "$data" -U postgres --auth=trust -E UTF8 >"$LOGS/initdb.log" 2>&1 || {
      cat "$LOGS/initdb.log" >&2
      die "initdb failed"
    }
  fi
  say "PostgreSQL: starting on 127.0.0.1:$PG_PORT"
  touch "$log"
  [ "$(id -u)" -eq 0 ] && chown postgres "$log"
  as_pg "$bin/pg_ctl" -D "$data" -l "$log" -w -t 60 start \
    -o "-p $PG_PORT -c listen_addresses=127.0.0.1 -c unix_socket_directories='' -c max_connections=400" >/dev/null ||
    { tail -n 20 "$log" >&2; die "PostgreSQL did not start"; }
}

# True when this checkout's own cluster is running.
postgres_running() {
  local bin data
  bin=$(pg_bin) || return 1
  data="$(pg_home)/pg"
  [ -f "$data/PG_VERSION" ] && as_pg "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1
}

stop_postgres() {
  [ -n "${DATABASE_URL:-}" ] && return 0
  if postgres_running; then
    say "PostgreSQL: stopping"
    as_pg "$(pg_bin)/pg_ctl" -D "$(pg_home)/pg" -m fast -w stop >/dev/null
  fi
}

redis_url() {
  if [ -n "${REDIS_URL:-}" ]; then echo "$REDIS_URL"; else echo "redis://127.0.0.1:$REDIS_PORT"; fi
}

redis_running() {
  [ -f "$STATE/redis.pid" ] && kill -0 "$(cat "$STATE/redis.pid")" 2>/dev/null
}

ensure_redis() {
  if [ -n "${REDIS_URL:-}" ]; then
    say "Redis: using REDIS_URL"
    return 0
  fi
  redis_running && return 0
  if [ "$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ]; then
    say "Redis: already answering on 127.0.0.1:$REDIS_PORT; using it"
    return 0
  fi
  mkdir -p "$STATE/redis" "$LOGS"
  say "Redis: starting on 127.0.0.1:$REDIS_PORT"
  # Seat locks live 30 s; nothing in Redis needs to survive a restart.
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --daemonize yes \
    --pidfile "$STATE/redis.pid" --dir "$STATE/redis" --logfile "$LOGS/redis.log" \
    --save "" --appendonly no >/dev/null
  for _ in $(seq 50); do
    redis_running && return 0
    sleep 0.1
  done
  die "Redis did not start (see $LOGS/redis.log)"
}

stop_redis() {
  [ -n "${REDIS_URL:-}" ] && return 0
  if redis_running; then
    say "Redis: stopping"
    kill "$(cat "$STATE/redis.pid")"
    rm -f "$STATE/redis.pid"
  fi
}

# http_status PORT PATH: the HTTP status of GET 127.0.0.1:PORT/PATH, or 000; needs no curl.
http_status() {
  local status
  status=$( (exec 3<>"/dev/tcp/127.0.0.1/$1" && printf 'GET %s HTTP/1.0\r\nHost: localhost\r\n\r\n' "$2" >&3 && head -n 1 <&3) 2>/dev/null | awk '{print $2}')
  echo "${status:-000}"
}

ensure_cargo() {
  command -v cargo >/dev/null || [ -x "$HOME/.cargo/bin/cargo" ] || die "cargo not found: install Rust with rustup"
  command -v cargo >/dev/null || export PATH="$HOME/.cargo/bin:$PATH"
}
