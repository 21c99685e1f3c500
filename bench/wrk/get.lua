-- GET with `Authorization: <AUTHORIZATION>` from the environment (or none).
dofile(os.getenv("BENCH_DIR") .. "/report.lua")
local authorization = os.getenv("AUTHORIZATION")
if authorization and authorization ~= "" then
  wrk.headers["Authorization"] = authorization
end
