-- wrk script for scripts/bench-http.sh: one fixed GET (the path is wrk's URL), with
-- "Authorization: Bearer $BENCH_TOKEN" when that variable is set. When the run ends it prints one JSON line:
-- requests/s, p50 and p99 latency in milliseconds, requests answered with a status of 400 or more, and socket
-- errors (connect, read, write, timeout).
local token = os.getenv("BENCH_TOKEN")
if token ~= nil and token ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. token
end

function done(summary, latency, requests)
  local seconds = summary.duration / 1e6
  local e = summary.errors
  io.write(string.format(
    '{"requests":%d,"seconds":%.3f,"requests_per_s":%.1f,"p50_ms":%.3f,"p99_ms":%.3f,"non2xx":%d,"socket_errors":%d}\n',
    summary.requests, seconds, summary.requests / seconds,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    e.status, e.connect + e.read + e.write + e.timeout))
end
