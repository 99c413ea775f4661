# Sourced by scripts/demo and scripts/test: makes sure a PostgreSQL server is reachable and
# exports DATABASE_URL. An existing $DATABASE_URL is used as it is; otherwise a project-local
# cluster is started (or reused) in .pgdata/, on 127.0.0.1 and a non-default port.

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

waymark_ensure_postgres() {
  if [ -n "${DATABASE_URL:-}" ]; then
    export DATABASE_URL
    return 0
  fi
  local root bin dir sockets
  root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
  waymark_install_postgres || return 1
  bin=$(waymark_pg_bin)
  dir="$root/.pgdata"
  # The server runs as postgres, which must be able to reach the folder; a checkout under a
  # private home directory keeps its cluster in a temporary folder instead.
  if [ "$(id -u)" = 0 ] && ! runuser -u postgres -- test -x "$root"; then
    dir="${TMPDIR:-/tmp}/waymark-pgdata-$(printf '%s' "$root" | md5sum | cut -c1-12)"
  fi
  # Unix socket paths are limited to about 100 bytes.
  sockets="$dir"
  [ "${#dir}" -lt 80 ] || sockets=/tmp
  if [ "$(id -u)" = 0 ]; then
    install -d -o postgres -g postgres "$dir"
  else
    mkdir -p "$dir"
  fi
  if [ ! -f "$dir/PG_VERSION" ]; then
    waymark_as_cluster_owner "$bin/initdb" -D "$dir" -A trust -U postgres --no-instructions >"$dir.initdb.log" 2>&1 || {
      cat "$dir.initdb.log" >&2
      return 1
    }
  fi
  if ! "$bin/pg_isready" -q -h 127.0.0.1 -p "$WAYMARK_PG_PORT"; then
    # A server killed without shutting down leaves its pid file behind; pg_ctl copes with that.
    waymark_as_cluster_owner "$bin/pg_ctl" -D "$dir" -l "$dir/server.log" -w -t 60 \
      -o "-p $WAYMARK_PG_PORT -k $sockets -c listen_addresses=127.0.0.1 -c max_connections=300 -c shared_buffers=256MB -c synchronous_commit=off" \
      start >&2 || {
      tail -20 "$dir/server.log" >&2
      return 1
    }
  fi
  export DATABASE_URL="postgres://postgres@127.0.0.1:$WAYMARK_PG_PORT/waymark"
}
