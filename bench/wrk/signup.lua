-- POST /auth/sign-up with a new email on every request (BENCH_TAG keeps runs apart).
dofile(os.getenv("BENCH_DIR") .. "/report.lua")
local tag = os.getenv("BENCH_TAG") or tostring(os.time())
local n = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
function request()
  n = n + 1
  return wrk.format(nil, nil, nil, string.format(
    '{"email":"su-%s-%d@bench.test","password":"bench-password-123"}', tag, n))
end
