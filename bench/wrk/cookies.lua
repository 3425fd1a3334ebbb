-- Spreads requests over the sessions listed in the file $COOKIES (one
-- "sessionid=..." per line), so a run measures real session look-ups and
-- not one cached cookie. $BENCH_PATH is the path to request.
local cookies = {}
local path = os.getenv("BENCH_PATH") or "/api/session/"
local file = os.getenv("COOKIES")
if file then
  for line in io.lines(file) do
    if #line > 0 then cookies[#cookies + 1] = line end
  end
end
local i = 0

function init(args)
  math.randomseed(os.time() + math.floor(os.clock() * 1000000))
  if #cookies > 0 then i = math.random(#cookies) end
end

function request()
  if #cookies == 0 then
    return wrk.format("GET", path)
  end
  i = i % #cookies + 1
  return wrk.format("GET", path, { ["Cookie"] = cookies[i] })
end
