-- wrk script: POST the OTLP protobuf body in $OTLP_BODY (written by bench/make_spans.py) with the bearer token in
-- $WARRANT_TOKEN, giving every request fresh trace ids so the server's (trace id, span id) de-duplication keeps
-- nothing back. $OTLP_BODY.offsets lists the byte offset and trace index of each 16-byte trace id, one per span.
-- A new id is 8 random bytes drawn once per run, the thread number (from 1, so never all zero), a per-thread
-- request counter and the trace index. done() prints the status counts and spans/s.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-protobuf"
wrk.headers["Authorization"] = "Bearer " .. assert(os.getenv("WARRANT_TOKEN"), "set WARRANT_TOKEN")
local path = assert(os.getenv("OTLP_BODY"), "set OTLP_BODY")
local file = assert(io.open(path, "rb"))
local body = file:read("*a")
file:close()

-- parts holds the body split around the trace id slots: parts[slot_part[k]] is the k-th slot, refilled per request.
local parts, slot_trace, slot_part = {}, {}, {}
local traces, position = 0, 1
for line in io.lines(path .. ".offsets") do
  local offset, trace = line:match("^(%d+) (%d+)$")
  offset, trace = tonumber(offset), tonumber(trace)
  assert(offset and offset + 1 >= position and offset + 16 <= #body, "bad offsets line: " .. line)
  parts[#parts + 1] = body:sub(position, offset)
  parts[#parts + 1] = false
  slot_part[#slot_part + 1], slot_trace[#slot_trace + 1] = #parts, trace
  traces = math.max(traces, trace + 1)
  position = offset + 17
end
parts[#parts + 1] = body:sub(position)
local spans = #slot_trace
assert(spans > 0 and traces <= 65536, "bad offsets file")

local function be(value, bytes)
  local out = {}
  for i = bytes, 1, -1 do
    out[i] = string.char(value % 256)
    value = math.floor(value / 256)
  end
  return table.concat(out)
end

local suffix = {} -- the last two bytes of each trace's id: its index
for t = 0, traces - 1 do suffix[t] = be(t, 2) end

local threads = {}
local thread_count = 0

function setup(thread)
  if not run_prefix then
    local random = assert(io.open("/dev/urandom", "rb"))
    run_prefix = random:read(8)
    random:close()
  end
  thread_count = thread_count + 1
  thread:set("run_prefix", run_prefix)
  thread:set("thread_number", thread_count)
  threads[#threads + 1] = thread
end

function init(args)
  prefix = run_prefix .. be(thread_number, 2)
  sent = 0
  statuses = {}
end

function request()
  sent = sent + 1
  local head = prefix .. be(sent % 4294967296, 4)
  local ids = {}
  for t = 0, traces - 1 do ids[t] = head .. suffix[t] end
  for k = 1, spans do parts[slot_part[k]] = ids[slot_trace[k]] end
  return wrk.format(nil, nil, nil, table.concat(parts))
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local counts, ok, other = {}, 0, 0
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("statuses")) do
      counts[status] = (counts[status] or 0) + count
    end
  end
  local listed = {}
  for status, count in pairs(counts) do
    if status == 200 then ok = ok + count else other = other + count end
    listed[#listed + 1] = status .. ": " .. count
  end
  table.sort(listed)
  local seconds = summary.duration / 1e6
  io.write(string.format("otlp: %d spans per request in %d traces, %d bytes per body\n", spans, traces, #body))
  io.write(string.format("otlp: responses by status {%s}; non-200: %d; socket errors: %d\n",
    table.concat(listed, ", "), other,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
  io.write(string.format("otlp: %d spans accepted (200s)\n", ok * spans))
  io.write(string.format("otlp: %.1f requests/s, %.0f spans/s (200s only)\n",
    summary.requests / seconds, ok * spans / seconds))
end
