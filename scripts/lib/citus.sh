# Sourced by scripts/test when WAYMARK_TEST_CITUS=1: a Citus cluster (a coordinator and two
# workers on 127.0.0.1, ports $WAYMARK_CITUS_PORT and the next two, and a spare node on the port
# after them that a test adds as a third worker) in .citus/, built and started by
# ../shared/tools/citus-cluster, and a template database migrated and distributed over it.
#
# Every API test clones the template on each node (CREATE DATABASE … TEMPLATE), so it gets a
# distributed database of its own in about a second instead of the ten that distributing every
# table takes. Citus's metadata names nodes by address, not databases by name, so clones of one
# template on each node make one consistent cluster database.

WAYMARK_CITUS_PORT=${WAYMARK_CITUS_PORT:-26400}
WAYMARK_CITUS_TEMPLATE=waymark_citus_template
# The coordinator, two workers and the spare.
WAYMARK_CITUS_NODES=4

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
  local port
  # The nodes in parallel: each drop waits for a checkpoint of its own node.
  for port in $(waymark_citus_ports); do
    waymark_citus_drop_databases_on "$port" &
  done
  wait
}

waymark_citus_drop_databases_on() {
  local port=$1 database subscription
  # A shard move interrupted by a failed run leaves a subscription (which keeps its database
  # from being dropped) and a replication slot behind. pg_subscription is shared by every
  # database, so one query finds them all.
  waymark_citus_psql "$port" -F ' ' -c "SELECT d.datname, s.subname FROM pg_subscription s JOIN pg_database d ON d.oid = s.subdbid WHERE d.datname LIKE 'waymark\_test\_%'" postgres 2>/dev/null |
    while read -r database subscription; do
      [ -n "$subscription" ] || continue
      waymark_citus_psql "$port" -c "ALTER SUBSCRIPTION \"$subscription\" DISABLE" \
        -c "ALTER SUBSCRIPTION \"$subscription\" SET (slot_name = NONE)" \
        -c "DROP SUBSCRIPTION \"$subscription\"" "$database" >/dev/null
    done
  # Every drop in one session, the slots first (a database with a slot cannot be dropped).
  waymark_citus_psql "$port" -c "SELECT 'SELECT pg_drop_replication_slot(' || quote_literal(slot_name) || ');' FROM pg_replication_slots WHERE database LIKE 'waymark\_test\_%' AND NOT active" \
    -c "SELECT format('ALTER DATABASE %I WITH IS_TEMPLATE false ALLOW_CONNECTIONS true; DROP DATABASE %I WITH (FORCE);', datname, datname) FROM pg_database WHERE datname LIKE 'waymark\_test\_%' OR datname = '$WAYMARK_CITUS_TEMPLATE'" postgres 2>/dev/null |
    waymark_citus_psql "$port" postgres >/dev/null
}

# A test cluster: durability is not wanted, and every test's database is written in full.
# Citus runs a maintenance process per database, which connects to the other nodes, and a
# rebalance runs its moves as background workers: the defaults (8 workers, 100 connections) are
# far too few for a database per test. Written to the configuration files of the nodes in $1
# that have not had them yet, and those restarted, rather than with ALTER SYSTEM: a node out of
# connections cannot be asked anything.
waymark_citus_configure() {
  local dir=$1 node conf
  for node in $(seq 0 $((WAYMARK_CITUS_NODES - 1))); do
    conf=$dir/node$node/postgresql.conf
    [ -f "$conf" ] || continue
    grep -q '^# waymark test cluster' "$conf" && continue
    waymark_as_cluster_owner sed -i '/^\(fsync\|full_page_writes\|synchronous_commit\|max_wal_size\|max_worker_processes\|max_connections\) /d' \
      "$dir/node$node/postgresql.auto.conf"
    printf '%s\n' '# waymark test cluster' 'fsync = off' 'full_page_writes = off' 'synchronous_commit = off' \
      "max_wal_size = '4GB'" 'max_worker_processes = 400' 'max_connections = 1500' |
      waymark_as_cluster_owner tee -a "$conf" >/dev/null
    if [ -f "$dir/node$node/postmaster.pid" ]; then
      waymark_as_cluster_owner "$(waymark_pg_bin)/pg_ctl" -D "$dir/node$node" -l "$dir/node$node.log" -w -m fast restart >/dev/null
    fi
  done
}

# A node killed (or the machine stopped) leaves its postmaster.pid behind, which keeps
# citus-cluster from starting it again; removed here once the node's last process has gone.
waymark_citus_clear_stale_pids() {
  local dir=$1 node data attempt
  for node in $(seq 0 $((WAYMARK_CITUS_NODES - 1))); do
    data=$dir/node$node
    [ -f "$data/postmaster.pid" ] || continue
    waymark_postmaster_pid "$data" >/dev/null && continue
    # Backends of a killed postmaster linger a moment, holding its shared memory.
    for attempt in $(seq 30); do
      find /proc -maxdepth 2 -name cwd -lname "$(cd "$data" && pwd -P)" 2>/dev/null | grep -q . || break
      sleep 1
    done
    echo "== removing the stale postmaster.pid of Citus node $node" >&2
    waymark_as_cluster_owner rm -f "$data/postmaster.pid"
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
  waymark_citus_clear_stale_pids "$dir"
  waymark_citus_configure "$dir"
  # Started first with a database of no consequence (the last run's template refuses
  # connections), and with the spare, which only that database lists as a worker.
  CITUS_PORT=$WAYMARK_CITUS_PORT CITUS_DB=waymark_citus_admin "$tool" start "$dir" 3 >/dev/null
  waymark_citus_configure "$dir"
  waymark_citus_drop_databases
  CITUS_PORT=$WAYMARK_CITUS_PORT CITUS_DB=$WAYMARK_CITUS_TEMPLATE "$tool" start "$dir" 2 >/dev/null
  # Few shards: a test federation needs one, and each clone copies every shard.
  waymark_citus_psql "$WAYMARK_CITUS_PORT" -c "ALTER DATABASE $WAYMARK_CITUS_TEMPLATE SET citus.shard_count = 4" postgres
  owner="postgres://postgres@127.0.0.1:$WAYMARK_CITUS_PORT/$WAYMARK_CITUS_TEMPLATE?sslmode=disable"
  service="postgres://waymark_service@127.0.0.1:$WAYMARK_CITUS_PORT/$WAYMARK_CITUS_TEMPLATE?sslmode=disable"
  WAYMARK_MIGRATION_DATABASE_URL=$owner DATABASE_URL=$service RUST_LOG=error "$bin" migrate --citus
  # A database is cloned only while no session is connected to it, Citus's own included.
  for port in $(waymark_citus_ports | head -3); do
    waymark_citus_psql "$port" -c "ALTER DATABASE $WAYMARK_CITUS_TEMPLATE WITH ALLOW_CONNECTIONS false IS_TEMPLATE true" \
      -c "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = '$WAYMARK_CITUS_TEMPLATE'" postgres >/dev/null
  done
  export WAYMARK_TEST_CITUS_TEMPLATE=$WAYMARK_CITUS_TEMPLATE
  export WAYMARK_TEST_CITUS_SPARE="postgres://postgres@127.0.0.1:$((WAYMARK_CITUS_PORT + 3))/postgres?sslmode=disable"
  WAYMARK_TEST_CITUS_WORKERS=$(for port in $(waymark_citus_ports | sed -n 2,3p); do
    printf 'postgres://postgres@127.0.0.1:%s/postgres?sslmode=disable,' "$port"; done)
  export WAYMARK_TEST_CITUS_WORKERS=${WAYMARK_TEST_CITUS_WORKERS%,}
}
