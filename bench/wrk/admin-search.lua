-- GET /auth/admin/users?query=<1 to 3 random letters>&limit=50 with the admin key in
-- `AUTHORIZATION`: an admin console searching users by the start of their address or name.
dofile(os.getenv("BENCH_DIR") .. "/report.lua")
wrk.headers["Authorization"] = os.getenv("AUTHORIZATION")
local letters = "abcdefghijklmnopqrstuvwxyz"
math.randomseed(os.time())
request = function()
  local query = ""
  for _ = 1, math.random(1, 3) do
    local k = math.random(1, 26)
    query = query .. letters:sub(k, k)
  end
  return wrk.format("GET", "/auth/admin/users?query=" .. query .. "&limit=50")
end
