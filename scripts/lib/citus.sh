# Sourced by scripts/test when WAYMARK_TEST_CITUS=1: a Citus cluster (a coordinator and two
# workers on 127.0.0.1, ports $WAYMARK_CITUS_PORT and the next two) in .citus/, built and started
# by ../shared/tools/citus-cluster, and a template database migrated and distributed over it.
#
# Every API test clones the template on each node (CREATE DATABASE … TEMPLATE), so it gets a
# distributed database of its own in about a second instead of the ten that distributing every
# table takes. Citus's metadata names nodes by address, not databases by name, so clones of one
# template on each node make one consistent cluster database.

WAYMARK_CITUS_PORT=${WAYMARK_CITUS_PORT:-26400}
WAYMARK_CITUS_TEMPLATE=waymark_citus_template
WAYMARK_CITUS_NODES=3

waymark_citus_psql() {
  local port=$1
  shift
  psql -X -qtA -h 127.0.0.1 -p "$port" -U postgres "$@"
}

waymark_citus_ports() {
  seq "$WAYMARK_CITUS_PORT" $((WAYMARK_CITUS_PORT + WAYMARK_CITUS_NODES - 1))
}

# Drops the template and every test database on every node.
waymark_citus_drop_databases() {
  local port name
  for port in $(waymark_citus_ports); do
    waymark_citus_psql "$port" -c "SELECT datname FROM pg_database WHERE datname LIKE 'waymark\_test\_%' OR datname = '$WAYMARK_CITUS_TEMPLATE'" postgres 2>/dev/null |
      while read -r name; do
        [ -n "$name" ] || continue
        waymark_citus_psql "$port" -c "ALTER DATABASE \"$name\" WITH IS_TEMPLATE false ALLOW_CONNECTIONS true" \
          -c "DROP DATABASE IF EXISTS \"$name\" WITH (FORCE)" postgres >/dev/null
      done
  done
}

# Starts (or reuses) the cluster and makes a fresh template with the current migrations, using
# the waymark binary $2; $1 is the checkout.
waymark_ensure_citus() {
  local root=$1 bin=$2 tool dir port owner service
  tool=$(cd "$root/.." && pwd)/shared/tools/citus-cluster
  dir=$root/.citus
  if [ ! -x "$tool" ]; then
    echo "error: $tool not found; WAYMARK_TEST_CITUS=1 needs ../shared beside the checkout" >&2
    return 1
  fi
  "$tool" install
  # Started first with a database of no consequence: the last run's template refuses connections.
  CITUS_PORT=$WAYMARK_CITUS_PORT CITUS_DB=waymark_citus_admin "$tool" start "$dir" 2 >/dev/null
  for port in $(waymark_citus_ports); do
    # A test cluster: durability is not wanted, and every test's database is written in full.
    waymark_citus_psql "$port" -c "ALTER SYSTEM SET fsync = off" -c "ALTER SYSTEM SET full_page_writes = off" \
      -c "ALTER SYSTEM SET synchronous_commit = off" -c "ALTER SYSTEM SET max_wal_size = '4GB'" \
      -c "SELECT pg_reload_conf()" postgres >/dev/null
  done
  waymark_citus_drop_databases
  CITUS_PORT=$WAYMARK_CITUS_PORT CITUS_DB=$WAYMARK_CITUS_TEMPLATE "$tool" start "$dir" 2 >/dev/null
  # Few shards: a test federation needs one, and each clone copies every shard.
  waymark_citus_psql "$WAYMARK_CITUS_PORT" -c "ALTER DATABASE $WAYMARK_CITUS_TEMPLATE SET citus.shard_count = 4" postgres
  owner="postgres://postgres@127.0.0.1:$WAYMARK_CITUS_PORT/$WAYMARK_CITUS_TEMPLATE?sslmode=disable"
  service="postgres://waymark_service@127.0.0.1:$WAYMARK_CITUS_PORT/$WAYMARK_CITUS_TEMPLATE?sslmode=disable"
  WAYMARK_MIGRATION_DATABASE_URL=$owner DATABASE_URL=$service RUST_LOG=error "$bin" migrate --citus
  # A database is cloned only while no session is connected to it, Citus's own included.
  for port in $(waymark_citus_ports); do
    waymark_citus_psql "$port" -c "ALTER DATABASE $WAYMARK_CITUS_TEMPLATE WITH ALLOW_CONNECTIONS false IS_TEMPLATE true" \
      -c "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = '$WAYMARK_CITUS_TEMPLATE'" postgres >/dev/null
  done
  export WAYMARK_TEST_CITUS_TEMPLATE=$WAYMARK_CITUS_TEMPLATE
  WAYMARK_TEST_CITUS_WORKERS=$(for port in $(waymark_citus_ports | tail -n +2); do
    printf 'postgres://postgres@127.0.0.1:%s/postgres?sslmode=disable,' "$port"; done)
  export WAYMARK_TEST_CITUS_WORKERS=${WAYMARK_TEST_CITUS_WORKERS%,}
}
