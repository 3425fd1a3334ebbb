-- Full CSRF-protected logins, non-stop: POST /api/login/ with the CSRF
-- cookie and the matching X-CSRFToken header (what the SPA sends).
-- $BENCH_USER / $BENCH_PASSWORD: the account; $CSRF_SECRET: a 32-character
-- token used as both cookie and header (servers without CSRF ignore them).
local user = os.getenv("BENCH_USER")
local password = os.getenv("BENCH_PASSWORD")
local secret = os.getenv("CSRF_SECRET")
local body = '{"username": "' .. user .. '", "password": "' .. password .. '"}'
local headers = {
  ["Content-Type"] = "application/json",
  ["X-CSRFToken"] = secret,
  ["Cookie"] = "csrftoken=" .. secret,
}

function request()
  return wrk.format("POST", "/api/login/", headers, body)
end
