-- wrk script: each request refers the next patient from WAYMARK_BENCH_PATHS (one
-- /v1/practices/{practice}/patients/{patient}/referrals path per line) with an Idempotency-Key of
-- its own, as the token in WAYMARK_BENCH_TOKEN.
local paths = {}
for line in io.lines(os.getenv("WAYMARK_BENCH_PATHS")) do
  paths[#paths + 1] = line
end

local threads = 0
function setup(thread)
  thread:set("thread_number", threads)
  threads = threads + 1
end

function init(args)
  sent = 0
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = "Bearer " .. os.getenv("WAYMARK_BENCH_TOKEN")
  wrk.body = '{"need_categories":["loneliness_isolation"],"note":"benchmark referral","urgency":"routine"}'
  run = os.getenv("WAYMARK_BENCH_RUN") or "run"
end

function request()
  sent = sent + 1
  wrk.headers["Idempotency-Key"] = "bench-" .. run .. "-" .. thread_number .. "-" .. sent
  return wrk.format(nil, paths[(sent % #paths) + 1])
end
