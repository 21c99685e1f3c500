-- POST /auth/sign-in, the same existing user every time.
dofile(os.getenv("BENCH_DIR") .. "/report.lua")
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"email":"signin@bench.test","password":"bench-password-123"}'
