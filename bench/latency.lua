-- Prints the run's latency percentiles in milliseconds on one line, for the benchmarks that
-- report p95 (wrk's own --latency report stops at 50, 75, 90 and 99).
local token = os.getenv("WAYMARK_BENCH_TOKEN")
if token then
  wrk.headers["Authorization"] = "Bearer " .. token
end

function done(summary, latency, requests)
  io.write(string.format("percentiles_ms p50 %.2f p95 %.2f p99 %.2f non2xx %d\n",
    latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000,
    summary.errors.status))
end
