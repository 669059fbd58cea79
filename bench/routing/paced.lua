-- Paced requests for wrk (Debian's wrk has no fixed-rate option): each
-- connection waits DELAY_MS after every answer, so the rate is bounded by
-- connections * 1000 / (DELAY_MS + latency). Users (the sticky cookie the
-- recipe reads, unsigned: the bench's Daylight has no route secret) vary per request, so the
-- rollout buckets them as real traffic would.
local delay_ms = tonumber(os.getenv("DELAY_MS") or "2")
local users = 10000
local n = 0

request = function()
  n = n + 1
  -- wrk.format replaces wrk.headers (the -H ones) when given a table: copy them.
  local headers = {}
  for k, v in pairs(wrk.headers) do headers[k] = v end
  headers["Cookie"] = "dl_uid=user-" .. (n % users)
  return wrk.format("GET", nil, headers)
end

function delay()
  return delay_ms
end
