# Sourced by the benchmarks: one way to prepare a database, serve a release build, drive it with
# wrk and report throughput, latency and the server's memory.

# shellcheck source=scripts/lib/postgres.sh
source scripts/lib/postgres.sh

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
export SQLX_OFFLINE=true RUST_LOG=warn
export WAYMARK_SIGNING_KEY_FILE=target/bench-signing-key.pem
export WAYMARK_ADDR=${WAYMARK_ADDR:-127.0.0.1:18080}
bench_bin=${WAYMARK_BENCH_BIN:-target/release/waymark}
# The benchmarks measure the service, not its rate limits: one client address and one token
# would spend any realistic quota within a second. bench/rate-limits measures what counting
# costs.
export WAYMARK_RATE_LIMIT_PER_SUBJECT_PER_MINUTE=${WAYMARK_RATE_LIMIT_PER_SUBJECT_PER_MINUTE:-0}
export WAYMARK_RATE_LIMIT_PER_ADDRESS_PER_MINUTE=${WAYMARK_RATE_LIMIT_PER_ADDRESS_PER_MINUTE:-0}
bench_pids=()

# Builds the release binaries (unless WAYMARK_BENCH_BIN names a prebuilt server, such as an
# earlier commit's, to compare with) and points DATABASE_URL (the service's login) and
# WAYMARK_MIGRATION_DATABASE_URL (the owner, which psql uses here) at database $1 of the local
# cluster (or of their server).
bench_prepare() {
  waymark_ensure_postgres
  bench_server_url="${WAYMARK_MIGRATION_DATABASE_URL%/*}"
  export DATABASE_URL="${DATABASE_URL%/*}/$1"
  export WAYMARK_MIGRATION_DATABASE_URL="$bench_server_url/$1"
  if [ -z "${WAYMARK_BENCH_BIN:-}" ] || [ ! -x target/release/waymark-bare-read ]; then
    cargo build --quiet --locked --release -p waymark -p waymark-bare-read
  fi
  [ -f "$WAYMARK_SIGNING_KEY_FILE" ] || "$bench_bin" keygen "$WAYMARK_SIGNING_KEY_FILE"
}

# Migrates the benchmark's database, starting it again when it was made by an earlier version of
# a migration that has since been rewritten (it holds generated data only).
bench_migrate() {
  local output
  if ! output=$("$bench_bin" migrate 2>&1); then
    grep -q "previously applied but has been modified" <<<"$output" || { echo "$output" >&2; return 1; }
    echo "== ${DATABASE_URL##*/} predates a rewritten migration; recreating it" >&2
    psql -q "$bench_server_url/postgres" -c "DROP DATABASE \"${DATABASE_URL##*/}\" WITH (FORCE)"
    "$bench_bin" migrate
  fi
}

# Sets synchronous_commit for the benchmark's database ("on" is PostgreSQL's default and what
# production runs; the local cluster's default is "off"). Takes effect for new connections, so
# call it before serving.
bench_synchronous_commit() {
  psql "$WAYMARK_MIGRATION_DATABASE_URL" -qc "ALTER DATABASE \"${DATABASE_URL##*/}\" SET synchronous_commit = $1"
  echo "== synchronous_commit = $1 for ${DATABASE_URL##*/}"
}

bench_stop_all() {
  local pid
  for pid in "${bench_pids[@]}"; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  bench_pids=()
}
trap bench_stop_all EXIT

# Starts `waymark serve` and waits until it is ready; its pid is in $bench_server.
bench_serve() {
  "$bench_bin" serve &
  bench_server=$!
  bench_pids+=("$bench_server")
  bench_wait_for "http://$WAYMARK_ADDR/readyz"
}

bench_wait_for() {
  local attempt
  for attempt in $(seq 100); do
    curl -sf "$1" >/dev/null && return 0
    sleep 0.1
  done
  echo "error: $1 did not answer" >&2
  return 1
}

# The resident memory of process $1 in MB, sampled every 200 ms until file $2 exists; prints the
# largest sample.
bench_rss_peak() {
  local pid=$1 stop=$2 peak=0 kb
  while [ ! -e "$stop" ]; do
    kb=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
    [ "${kb:-0}" -gt "$peak" ] && peak=$kb
    sleep 0.2
  done
  echo $((peak / 1024))
}

# bench_run NAME PID SECONDS CONNECTIONS WRK-ARGS...: runs wrk against the server with pid PID,
# prints a line of figures and remembers them as bench_rps[NAME], bench_p99[NAME].
declare -A bench_rps bench_p50 bench_p99 bench_rss
bench_run() {
  local name=$1 pid=$2 seconds=$3 connections=$4 out stop rss_file
  shift 4
  out=$(mktemp)
  stop=$(mktemp -u)
  rss_file=$(mktemp)
  bench_rss_peak "$pid" "$stop" >"$rss_file" &
  local sampler=$!
  wrk -t2 -c"$connections" -d"${seconds}s" --latency "$@" >"$out"
  touch "$stop"
  wait "$sampler"
  bench_rps[$name]=$(awk '/^Requests\/sec:/ {printf "%.0f", $2}' "$out")
  bench_p50[$name]=$(bench_latency_ms 50 "$out")
  bench_p99[$name]=$(bench_latency_ms 99 "$out")
  bench_rss[$name]=$(cat "$rss_file")
  local errors
  errors=$(grep -E "Non-2xx|Socket errors" "$out" | tr -s ' ' | paste -sd';' - || true)
  printf '%-44s %9s req/s   p50 %7s ms   p99 %7s ms   server RSS peak %4s MB%s\n' \
    "$name" "${bench_rps[$name]}" "${bench_p50[$name]}" "${bench_p99[$name]}" "${bench_rss[$name]}" \
    "${errors:+   ($errors)}"
  rm -f "$out" "$stop" "$rss_file"
}

# wrk's latency percentile $1 from its --latency output in file $2, in milliseconds.
bench_latency_ms() {
  awk -v p="$1%" '$1 == p {
    v = $2; unit = v; sub(/[0-9.]+/, "", unit); sub(/[a-z]+$/, "", v);
    if (unit == "us") v /= 1000; else if (unit == "s") v *= 1000; else if (unit == "m") v *= 60000;
    printf "%.2f", v }' "$2"
}

# bench_ratio A B: A's throughput as a multiple of B's, and A's p99 as a multiple of B's.
bench_ratio() {
  awk -v a="${bench_rps[$1]}" -v b="${bench_rps[$2]}" -v pa="${bench_p99[$1]}" -v pb="${bench_p99[$2]}" \
    -v na="$1" -v nb="$2" 'BEGIN {
      printf "%-44s %.2fx the throughput of %s, p99 %.2fx\n", na, (b > 0 ? a / b : 0), nb, (pb > 0 ? pa / pb : 0) }'
}

bench_footer() {
  echo "(wrk, the server and PostgreSQL share this machine's $(nproc) cores)"
}

# Turns the statistics triggers of the benchmark's database on or off (WAYMARK_BENCH_STATS_TRIGGERS,
# default on), to measure what keeping the statistics costs the writers. Off, the statistics
# stop being kept: only for measuring.
bench_stats_triggers() {
  local setting=${WAYMARK_BENCH_STATS_TRIGGERS:-on}
  local action
  case $setting in
    on) action=ENABLE ;;
    off) action=DISABLE ;;
    *) echo "WAYMARK_BENCH_STATS_TRIGGERS is on or off, not $setting" >&2; return 1 ;;
  esac
  psql "$WAYMARK_MIGRATION_DATABASE_URL" -qAt -c "
    SELECT format('ALTER TABLE %s $action TRIGGER %I;', tgrelid::regclass, tgname)
    FROM pg_trigger WHERE NOT tgisinternal AND tgname LIKE '%stats%'" | psql "$WAYMARK_MIGRATION_DATABASE_URL" -q
  echo "== statistics triggers $setting ($(psql "$WAYMARK_MIGRATION_DATABASE_URL" -tAc "SELECT count(*) FROM pg_trigger WHERE NOT tgisinternal AND tgname LIKE '%stats%'") of them)"
}
