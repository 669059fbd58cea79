-- wrk script: POST an OFREP evaluation request to the URL's path.
-- The client key comes from the environment (DAYLIGHT_KEY). With
-- CONTEXTS=N (N > 1) each request names the next of N users, u1..uN, in
-- turn; otherwise every request is for u1.
wrk.method = "POST"
wrk.body = '{"context":{"targetingKey":"u1","game":"omaha"}}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. (os.getenv("DAYLIGHT_KEY") or "")

local contexts = tonumber(os.getenv("CONTEXTS") or "1")
local n = 0
if contexts > 1 then
  request = function()
    n = n % contexts + 1
    return wrk.format(nil, nil, nil, '{"context":{"targetingKey":"u' .. n .. '","game":"omaha"}}')
  end
end
