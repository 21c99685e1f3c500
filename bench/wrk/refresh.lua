-- POST /auth/refresh, always with an unused refresh token: a pool of sessions' tokens (one per
-- line in TOKENS_FILE) is drawn from, and each answer's successor goes back in. Every request
-- is a real rotation (a database write), never a grace-window replay.
dofile(os.getenv("BENCH_DIR") .. "/report.lua")
local pool = {}
for line in io.lines(os.getenv("TOKENS_FILE")) do
  pool[#pool + 1] = line
end
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
function request()
  local token = table.remove(pool)
  if token == nil then
    -- Never happens with more sessions than connections; fail loudly if it does.
    error("the refresh token pool ran dry")
  end
  return wrk.format(nil, nil, nil, '{"refresh_token":"' .. token .. '"}')
end
function response(status, headers, body)
  local next = body:match('"refresh_token":"(kwr_[%w_%-]+)"')
  if next then
    pool[#pool + 1] = next
  end
end
