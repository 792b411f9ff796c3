-- wrk script: GET one of the space-separated paths in $WRK_PATHS at random, with the bearer token in
-- $WARRANT_TOKEN; `{seq}` in a path becomes a random seq below $WRK_MAX_SEQ (a proof of a random event).
wrk.headers["Authorization"] = "Bearer " .. os.getenv("WARRANT_TOKEN")
local paths = {}
for path in string.gmatch(os.getenv("WRK_PATHS"), "%S+") do
  table.insert(paths, path)
end
local max_seq = tonumber(os.getenv("WRK_MAX_SEQ") or "1")

function init(args)
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16) % 1000)
end

function request()
  local path = string.gsub(paths[math.random(#paths)], "{seq}", tostring(math.random(0, max_seq - 1)))
  return wrk.format("GET", path)
end

function done(summary, latency, requests)
  io.write(string.format("percentiles: p50 %.2fms p99 %.2fms p99.9 %.2fms max %.2fms\n",
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency:percentile(99.9) / 1000,
    latency.max / 1000))
end
