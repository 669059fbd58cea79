-- wrk script for Unleash Edge's frontend API: with CONTEXTS=N (N > 1) each
-- request names the next of N users, u1..uN, in turn (as post.lua does).
local contexts = tonumber(os.getenv("CONTEXTS") or "1")
local n = 0
if contexts > 1 then
  request = function()
    n = n % contexts + 1
    return wrk.format(nil, "/api/frontend?userId=u" .. n .. "&properties%5Bgame%5D=omaha")
  end
end
