# Sourced by scripts/demo, scripts/test and the benchmarks: makes sure a PostgreSQL server is
# reachable and exports DATABASE_URL (the service's login) and WAYMARK_MIGRATION_DATABASE_URL
# (the schema owner). Existing values are used as they are (both must be set); otherwise a
# project-local cluster is started (or reused) in .pgdata/ (or $WAYMARK_PGDATA), on 127.0.0.1
# and a non-default port ($WAYMARK_PG_PORT), with postgres as the owner and waymark_service,
# which `waymark migrate` creates, as the service's login.
#
# The cluster must come back whatever state it was left in: stopped (a reboot), killed (a stale
# postmaster.pid), or with its folder's mode reset by an older version of this script. A port
# held by some other program is reported with what to do about it.

WAYMARK_PG_PORT=${WAYMARK_PG_PORT:-55432}

waymark_pg_bin() {
  ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1
}

waymark_as_cluster_owner() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

waymark_install_postgres() {
  if [ -z "$(waymark_pg_bin)" ]; then
    echo "PostgreSQL server binaries not found; installing them from the OS packages" >&2
    if [ "$(id -u)" != 0 ]; then
      echo "error: installing PostgreSQL needs root; install the 'postgresql' package or set DATABASE_URL" >&2
      return 1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 &&
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2 || return 1
  fi
}

# The data directory for the checkout at $1: $WAYMARK_PGDATA, else .pgdata in the checkout, else
# (when the postgres user cannot reach the checkout) a folder under $TMPDIR named after it.
waymark_pg_data_dir() {
  local root=$1
  if [ -n "${WAYMARK_PGDATA:-}" ]; then
    printf '%s\n' "$WAYMARK_PGDATA"
  elif [ "$(id -u)" = 0 ] && ! runuser -u postgres -- test -x "$root"; then
    printf '%s\n' "${TMPDIR:-/tmp}/waymark-pgdata-$(printf '%s' "$root" | md5sum | cut -c1-12)"
  else
    printf '%s\n' "$root/.pgdata"
  fi
}

# Whether something accepts TCP connections on 127.0.0.1:$1.
waymark_port_in_use() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# What listens on 127.0.0.1:$1, as far as this user can tell.
waymark_port_holder() {
  command -v ss >/dev/null || return 0
  ss -Hltnp "sport = :$1" 2>/dev/null | sed -n 's/.*users:((\("[^"]*"\).*/\1/p' | head -1
}

# The pid of the live postmaster of the cluster in $1, if there is one. The pid file alone
# proves nothing: a server killed with SIGKILL, or a machine rebooted, leaves it behind, and its
# pid may since belong to another process.
waymark_postmaster_pid() {
  local dir=$1 pid
  pid=$(head -1 "$dir/postmaster.pid" 2>/dev/null) || return 1
  case $pid in '' | *[!0-9]*) return 1 ;; esac
  [ "$(readlink "/proc/$pid/cwd" 2>/dev/null)" = "$(cd "$dir" && pwd -P)" ] || return 1
  printf '%s\n' "$pid"
}

# Makes sure the cluster in $1 exists and serves on 127.0.0.1:$2.
waymark_ensure_cluster() {
  local dir=$1 port=$2 bin sockets pid mode running_port attempt
  waymark_install_postgres || return 1
  bin=$(waymark_pg_bin)
  # Unix socket paths are limited to about 100 bytes.
  sockets="$dir"
  [ "${#dir}" -lt 80 ] || sockets=/tmp

  if [ ! -f "$dir/PG_VERSION" ]; then
    if [ -d "$dir" ] && [ -n "$(ls -A "$dir" 2>/dev/null)" ]; then
      echo "error: $dir exists but holds no PostgreSQL cluster (no PG_VERSION); move it away or remove it" >&2
      return 1
    fi
    # Created once, with the mode the server insists on; later runs leave the folder alone.
    if [ "$(id -u)" = 0 ]; then
      install -d -m 0700 -o postgres -g postgres "$dir" || return 1
    else
      mkdir -p -m 0700 "$dir" || return 1
    fi
    waymark_as_cluster_owner "$bin/initdb" -D "$dir" -A trust -U postgres --no-instructions >"$dir.initdb.log" 2>&1 || {
      cat "$dir.initdb.log" >&2
      return 1
    }
  fi
  # The server refuses a data directory open to others; older versions of these scripts reset
  # the folder to 0755 on every run, which broke the first start after a reboot.
  mode=$(stat -c %a "$dir")
  if [ "$mode" != 700 ] && [ "$mode" != 750 ]; then
    echo "== $dir had mode $mode; setting it to 0700 as PostgreSQL requires" >&2
    waymark_as_cluster_owner chmod 0700 "$dir" || return 1
  fi

  if pid=$(waymark_postmaster_pid "$dir"); then
    running_port=$(sed -n 4p "$dir/postmaster.pid")
    if [ "$running_port" != "$port" ]; then
      echo "error: the cluster in $dir is already running (pid $pid) on port $running_port, not $port;" >&2
      echo "  use WAYMARK_PG_PORT=$running_port, or stop it: $(waymark_stop_hint "$dir")" >&2
      return 1
    fi
    # Running, perhaps still starting up or recovering from a crash.
    for attempt in $(seq 120); do
      if "$bin/pg_isready" -q -h 127.0.0.1 -p "$port"; then
        waymark_restart_if_upgraded "$dir" "$port"
        return
      fi
      sleep 0.5
    done
    echo "error: the cluster in $dir (pid $pid) does not accept connections on port $port; see $dir/server.log" >&2
    return 1
  fi

  if waymark_port_in_use "$port"; then
    local holder
    holder=$(waymark_port_holder "$port")
    echo "error: port $port on 127.0.0.1 is taken by another program${holder:+ ($holder)}, not this project's PostgreSQL." >&2
    echo "  Stop that program, choose a free port for the project's cluster with WAYMARK_PG_PORT=<port>," >&2
    echo "  or use a server of your own with DATABASE_URL=postgres://user@host:port/waymark." >&2
    return 1
  fi
  # No postmaster of this cluster is alive, so a pid file left by a crash or a reboot is stale;
  # removed, it cannot make the server mistake a process that reused its pid for itself.
  if [ -f "$dir/postmaster.pid" ]; then
    echo "== removing the stale postmaster.pid of a server that did not shut down cleanly" >&2
    waymark_as_cluster_owner rm -f "$dir/postmaster.pid" || return 1
  fi
  # Backends of a killed server exit soon after it; until they have, its shared memory is in use
  # and a new server refuses to start, so a few attempts are allowed. A generated federation of a
  # million referrals is gigabytes written in one transaction: with room for it in the buffers and
  # the WAL, the load is not spent on checkpoints and backends writing out pages themselves.
  for attempt in 1 2 3 4 5; do
    if waymark_as_cluster_owner "$bin/pg_ctl" -D "$dir" -l "$dir/server.log" -w -t 120 \
      -o "-p $port -k $sockets -c listen_addresses=127.0.0.1 -c max_connections=300 -c shared_buffers=1GB -c max_wal_size=8GB -c checkpoint_timeout=30min -c synchronous_commit=off" \
      start >/dev/null 2>&1; then
      return 0
    fi
    waymark_postmaster_pid "$dir" >/dev/null && break
    sleep 2
  done
  echo "error: PostgreSQL did not start in $dir on port $port; the end of its log:" >&2
  tail -20 "$dir/server.log" >&2
  return 1
}

# A server started before its packages were upgraded (installing Citus's build dependencies can
# upgrade PostgreSQL's minor version) runs the old binary but loads the new one's libraries, and
# then fails as soon as a backend loads one (plpgsql: "undefined symbol"). Such a server is
# restarted on the installed binary; its options are kept in postmaster.opts.
waymark_restart_if_upgraded() {
  local dir=$1 port=$2 bin running installed
  bin=$(waymark_pg_bin)
  command -v psql >/dev/null || return 0
  running=$(psql -h 127.0.0.1 -p "$port" -U postgres -d postgres -tAc "SHOW server_version" 2>/dev/null | cut -d' ' -f1)
  installed=$("$bin/postgres" --version | awk '{print $3}')
  [ -z "$running" ] || [ "$running" = "$installed" ] && return 0
  echo "== the cluster in $dir runs PostgreSQL $running but $installed is installed; restarting it" >&2
  if ! waymark_as_cluster_owner "$bin/pg_ctl" -D "$dir" -l "$dir/server.log" -w -t 120 -m fast \
    restart >/dev/null 2>&1; then
    echo "error: PostgreSQL did not restart in $dir; the end of its log:" >&2
    tail -20 "$dir/server.log" >&2
    return 1
  fi
}

waymark_stop_hint() {
  local prefix=""
  [ "$(id -u)" = 0 ] && prefix="runuser -u postgres -- "
  printf '%s%s/pg_ctl -D %s stop' "$prefix" "$(waymark_pg_bin)" "$1"
}

waymark_ensure_postgres() {
  if [ -n "${DATABASE_URL:-}" ] || [ -n "${WAYMARK_MIGRATION_DATABASE_URL:-}" ]; then
    if [ -z "${DATABASE_URL:-}" ] || [ -z "${WAYMARK_MIGRATION_DATABASE_URL:-}" ]; then
      echo "error: set both DATABASE_URL (the service's login) and WAYMARK_MIGRATION_DATABASE_URL (the schema owner), or neither to use the project-local cluster" >&2
      return 1
    fi
    export DATABASE_URL WAYMARK_MIGRATION_DATABASE_URL
    return 0
  fi
  local root dir
  root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
  dir=$(waymark_pg_data_dir "$root")
  waymark_ensure_cluster "$dir" "$WAYMARK_PG_PORT" || return 1
  export DATABASE_URL="postgres://waymark_service@127.0.0.1:$WAYMARK_PG_PORT/waymark"
  export WAYMARK_MIGRATION_DATABASE_URL="postgres://postgres@127.0.0.1:$WAYMARK_PG_PORT/waymark"
}
