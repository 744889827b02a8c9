#!/usr/bin/env bash
# The PostgreSQL parts production runs next to the machine's server, for the PostgreSQL suites
# (test/postgres/pooler*.test.ts, replica.test.ts, restart.test.ts, tls.test.ts) and the chaos
# tester's pooler seeds. Idempotent: run it again and it reuses what is already up.
#
#   . scripts/ci-pg-extras.sh      (sourced: exports the STOWAGE_TEST_PG_* URLs below)
#
# It never touches the machine's own cluster (127.0.0.1:5432) beyond connecting to it:
# - PgBouncer (Debian `pgbouncer`), transaction mode, on 127.0.0.1:6442 -> the machine's 5432;
# - a private primary (TLS on, a self-signed certificate) on :5441 with a streaming standby
#   made by pg_basebackup on :5442 (hot_standby, for --read-url);
# - a private cluster on :5443 that test/postgres/restart.test.ts restarts at will.
# Needs root (to install and to run the clusters as the `postgres` user) and Debian's
# PostgreSQL server package (the machine's PostgreSQL comes from it).
set -euo pipefail

PGX_DIR="${STOWAGE_PG_EXTRAS_DIR:-/tmp/stowage-pg-extras}"
PGX_BIN="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)"
PGX_BASE_URL="${STOWAGE_TEST_PG_URL:-postgres://postgres@127.0.0.1:5432/test}"

pgx_as_pg() { runuser -u postgres -- "$@"; }

pgx_install() {
  command -v pgbouncer >/dev/null || (apt-get update -qq && apt-get install -y -qq pgbouncer >/dev/null)
  command -v openssl >/dev/null || (apt-get update -qq && apt-get install -y -qq openssl >/dev/null)
  mkdir -p "$PGX_DIR"
  chown postgres:postgres "$PGX_DIR"
}

# A cluster at $1 on port $2, started (made first when missing).
pgx_cluster() {
  local dir="$1" port="$2"
  if [ ! -f "$dir/PG_VERSION" ]; then
    pgx_as_pg "$PGX_BIN/initdb" -D "$dir" -U postgres --auth=trust >/dev/null
    cat >>"$dir/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$PGX_DIR'
wal_level = replica
max_wal_senders = 4
hot_standby = on
fsync = on
EOF
    echo "host replication all 127.0.0.1/32 trust" >>"$dir/pg_hba.conf"
  fi
  pgx_start "$dir" "$port"
}

pgx_start() {
  local dir="$1" port="$2"
  if ! pgx_as_pg "$PGX_BIN/pg_ctl" -D "$dir" status >/dev/null 2>&1; then
    pgx_as_pg "$PGX_BIN/pg_ctl" -D "$dir" -l "$dir/server.log" -w -t 60 start >/dev/null
  fi
  "$PGX_BIN/pg_isready" -q -h 127.0.0.1 -p "$port" -t 30
}

pgx_createdb() {
  local port="$1"
  "$PGX_BIN/psql" -qAt -h 127.0.0.1 -p "$port" -U postgres -d postgres -c "select 1 from pg_database where datname = 'test'" | grep -q 1 ||
    "$PGX_BIN/psql" -q -h 127.0.0.1 -p "$port" -U postgres -d postgres -c "create database test" >/dev/null
}

# TLS on the primary: a private CA and a server certificate for localhost / 127.0.0.1.
pgx_tls() {
  local dir="$1"
  [ -f "$PGX_DIR/root.crt" ] && grep -q "^ssl = on" "$dir/postgresql.conf" && return 0
  (
    cd "$PGX_DIR"
    openssl req -new -x509 -days 3650 -nodes -subj "/CN=stowage-test-ca" -keyout root.key -out root.crt 2>/dev/null
    openssl req -new -nodes -subj "/CN=localhost" -keyout server.key -out server.csr 2>/dev/null
    printf "subjectAltName=DNS:localhost,IP:127.0.0.1\n" >san.ext
    openssl x509 -req -in server.csr -CA root.crt -CAkey root.key -CAcreateserial -days 3650 -extfile san.ext -out server.crt 2>/dev/null
    chown postgres:postgres server.key server.crt root.crt
    chmod 600 server.key
  )
  cat >>"$dir/postgresql.conf" <<EOF
ssl = on
ssl_cert_file = '$PGX_DIR/server.crt'
ssl_key_file = '$PGX_DIR/server.key'
EOF
  pgx_as_pg "$PGX_BIN/pg_ctl" -D "$dir" -w -t 60 restart >/dev/null
}

pgx_standby() {
  local dir="$1" port="$2" primary_port="$3"
  if [ ! -f "$dir/PG_VERSION" ]; then
    pgx_as_pg "$PGX_BIN/pg_basebackup" -h 127.0.0.1 -p "$primary_port" -U postgres -D "$dir" -R -X stream >/dev/null
    # The copy carries the primary's settings: only the port differs (and it never sends TLS setup it lacks files for).
    sed -i "s/^port = .*/port = $port/" "$dir/postgresql.conf"
  fi
  pgx_start "$dir" "$port"
}

pgx_pgbouncer() {
  local host port db
  host="$(node -e 'const u=new URL(process.argv[1]);process.stdout.write(u.hostname)' "$PGX_BASE_URL" 2>/dev/null || echo 127.0.0.1)"
  port="$(node -e 'const u=new URL(process.argv[1]);process.stdout.write(u.port||"5432")' "$PGX_BASE_URL" 2>/dev/null || echo 5432)"
  db="$(node -e 'const u=new URL(process.argv[1]);process.stdout.write(u.pathname.slice(1)||"test")' "$PGX_BASE_URL" 2>/dev/null || echo test)"
  cat >"$PGX_DIR/pgbouncer.ini" <<EOF
[databases]
$db = host=$host port=$port dbname=$db user=postgres
primary = host=127.0.0.1 port=5441 dbname=test user=postgres
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = 6442
unix_socket_dir = $PGX_DIR
auth_type = any
pool_mode = transaction
default_pool_size = 20
max_client_conn = 500
logfile = $PGX_DIR/pgbouncer.log
pidfile = $PGX_DIR/pgbouncer.pid
admin_users = postgres
EOF
  chown postgres:postgres "$PGX_DIR/pgbouncer.ini"
  if ! { [ -f "$PGX_DIR/pgbouncer.pid" ] && kill -0 "$(cat "$PGX_DIR/pgbouncer.pid")" 2>/dev/null; }; then
    pgx_as_pg pgbouncer -d "$PGX_DIR/pgbouncer.ini"
  fi
  for _ in $(seq 1 50); do
    "$PGX_BIN/pg_isready" -q -h 127.0.0.1 -p 6442 -d "$db" && return 0
    sleep 0.2
  done
  echo "ci-pg-extras: PgBouncer did not come up (see $PGX_DIR/pgbouncer.log)" >&2
  return 1
}

pgx_install
pgx_cluster "$PGX_DIR/primary" 5441
pgx_tls "$PGX_DIR/primary"
pgx_createdb 5441
pgx_standby "$PGX_DIR/standby" 5442 5441
pgx_cluster "$PGX_DIR/restart" 5443
pgx_createdb 5443
pgx_pgbouncer

PGX_DB="$(node -e 'process.stdout.write(new URL(process.argv[1]).pathname.slice(1)||"test")' "$PGX_BASE_URL")"
export STOWAGE_TEST_PGBOUNCER_URL="postgres://postgres@127.0.0.1:6442/$PGX_DB"
export STOWAGE_TEST_PG_PRIMARY_URL="postgres://postgres@127.0.0.1:5441/test"
export STOWAGE_TEST_PG_REPLICA_URL="postgres://postgres@127.0.0.1:5442/test"
export STOWAGE_TEST_PG_TLS_URL="postgres://postgres@localhost:5441/test?sslmode=verify-full&sslrootcert=$PGX_DIR/root.crt"
export STOWAGE_TEST_PG_RESTART_URL="postgres://postgres@127.0.0.1:5443/test"
export STOWAGE_TEST_PG_RESTART_CMD="runuser -u postgres -- $PGX_BIN/pg_ctl -D $PGX_DIR/restart -w -t 60 -m fast restart"
echo "ci-pg-extras: PgBouncer $STOWAGE_TEST_PGBOUNCER_URL, primary :5441 (TLS), standby :5442, restartable :5443"
