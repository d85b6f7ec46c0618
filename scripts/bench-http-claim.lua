-- wrk script for scripts/bench-http.sh: claim + complete over HTTP. Run it with as many connections as threads
-- (-t16 -c16), so each thread's requests go one after another. Thread k (0, 1, …) walks the onboardings
-- <prefix>(offset + k + 1 + stride*i) for i = 0, 1, …, claiming and then completing each one's first task:
--   POST /tasks/<prefix>N-t1/claim      (empty body)
--   POST /tasks/<prefix>N-t1/complete   {"outputs":{"client_id":"C-1001"},"checklist":["client-synced","client-listed"]}
-- (after a failed claim it moves on to the next onboarding without completing).
-- Environment: BENCH_TOKEN (bearer token of a customer_admin), BENCH_OFFSET (the highest onboarding number an
-- earlier round reached, default 0), BENCH_STRIDE (the thread count, default 16), BENCH_PREFIX (default "bench-").
-- When the run ends it prints one JSON line: completed tasks/s (successful completions / seconds), p50 and p99
-- request latency in milliseconds, non-2xx responses, socket errors, and max_index, the highest onboarding
-- number it claimed (the next round's BENCH_OFFSET).

local token = os.getenv("BENCH_TOKEN") or ""
local prefix = os.getenv("BENCH_PREFIX") or "bench-"
local stride = tonumber(os.getenv("BENCH_STRIDE") or "16")
local offset = tonumber(os.getenv("BENCH_OFFSET") or "0")
local complete_body = '{"outputs":{"client_id":"C-1001"},"checklist":["client-synced","client-listed"]}'

-- Main state: every thread, for done().
local threads = {}

function setup(thread)
  thread:set("k", #threads)
  table.insert(threads, thread)
end

-- Thread state. Only response() moves on, so a request that is sent again after a reconnect stays the same.
completed = 0
errors = 0
max_index = 0
local i = 0
local completing = false
local claim_headers, complete_headers

function init(args)
  claim_headers = { ["Authorization"] = "Bearer " .. token }
  complete_headers = { ["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json" }
end

function request()
  local n = offset + k + 1 + stride * i
  local path = "/tasks/" .. prefix .. n .. "-t1/"
  if completing then
    return wrk.format("POST", path .. "complete", complete_headers, complete_body)
  end
  if n > max_index then max_index = n end
  return wrk.format("POST", path .. "claim", claim_headers, "")
end

function response(status, headers, body)
  local ok = status >= 200 and status <= 299
  if not ok then errors = errors + 1 end
  if completing then
    if ok then completed = completed + 1 end
    completing = false
    i = i + 1
  elseif ok then
    completing = true
  else
    -- A failed claim: nothing to complete, on to the next onboarding.
    i = i + 1
  end
end

function done(summary, latency, requests)
  local total_completed, total_errors, highest = 0, 0, offset
  for _, thread in ipairs(threads) do
    total_completed = total_completed + thread:get("completed")
    total_errors = total_errors + thread:get("errors")
    local reached = thread:get("max_index")
    if reached > highest then highest = reached end
  end
  local seconds = summary.duration / 1e6
  local e = summary.errors
  io.write(string.format(
    '{"completed":%d,"requests":%d,"seconds":%.3f,"tasks_per_s":%.1f,"requests_per_s":%.1f,"p50_ms":%.3f,' ..
    '"p99_ms":%.3f,"errors":%d,"socket_errors":%d,"max_index":%d}\n',
    total_completed, summary.requests, seconds, total_completed / seconds, summary.requests / seconds,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    total_errors, e.connect + e.read + e.write + e.timeout, highest))
end
