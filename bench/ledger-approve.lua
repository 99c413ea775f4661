-- wrk script: each request approves the next pending charge from the file named by
-- WAYMARK_BENCH_CHARGES (one id per line), with its own Idempotency-Key. The threads share the
-- ids out by position, so no charge is approved twice.
local ids = {}
for line in io.lines(os.getenv("WAYMARK_BENCH_CHARGES")) do
  ids[#ids + 1] = line
end

local threads = 0
function setup(thread)
  thread:set("offset", threads)
  threads = threads + 1
  thread:set("stride", 0)
end

function init(args)
  stride = tonumber(os.getenv("WAYMARK_BENCH_THREADS") or "2")
  next_index = offset + 1
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = "Bearer " .. os.getenv("WAYMARK_BENCH_TOKEN")
  wrk.body = '{"decision":"approve"}'
end

function request()
  local id = ids[next_index]
  if id == nil then
    -- Out of charges: ask for one that does not exist, which answers 404 and changes nothing.
    id = "00000000-0000-7000-8000-000000000000"
  end
  next_index = next_index + stride
  wrk.headers["Idempotency-Key"] = "bench-approve-" .. id .. "-" .. next_index
  return wrk.format(nil, "/v1/ledger/charges/" .. id .. "/decision")
end
