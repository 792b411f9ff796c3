-- wrk script: POST the file named by $WRK_BODY to the URL with the bearer token in $WARRANT_TOKEN.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("WARRANT_TOKEN")
local file = assert(io.open(os.getenv("WRK_BODY"), "rb"))
wrk.body = file:read("*a")
file:close()

-- The tail, which wrk's --latency table stops short of.
function done(summary, latency, requests)
  io.write(string.format("percentiles: p50 %.2fms p99 %.2fms p99.9 %.2fms max %.2fms\n",
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency:percentile(99.9) / 1000,
    latency.max / 1000))
end
