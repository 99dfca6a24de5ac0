-- wrk script for the hubgate benchmark: POST a fixed body with fixed headers, and
-- print one JSON line with the figures when the run ends.
--
--   wrk -t2 -c32 -d10s -s bench/wrk/post.lua URL -- BODY_FILE [Header: value ...]
--
-- The body is read from BODY_FILE (a JSON request); every further argument is a
-- header. Non-2xx/3xx answers are counted by wrk as errors.status (no response()
-- callback: it would make wrk hand every answer to Lua). The summary
-- line starts with "BENCH_JSON " so the harness can find it among wrk's own output.

local function read_file(path)
  local f = assert(io.open(path, "rb"))
  local data = f:read("*a")
  f:close()
  return data
end

function init(args)
  wrk.method = "POST"
  wrk.body = read_file(args[1])
  wrk.headers["Content-Type"] = "application/json"
  for i = 2, #args do
    local name, value = string.match(args[i], "^([^:]+):%s*(.*)$")
    if name then
      wrk.headers[name] = value
    end
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  local parts = {
    string.format('"requests":%d', summary.requests),
    string.format('"duration_us":%d', summary.duration),
    string.format('"bytes":%d', summary.bytes),
    string.format('"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}',
      e.connect, e.read, e.write, e.status, e.timeout),
    string.format('"latency_us":{"min":%d,"mean":%.1f,"stdev":%.1f,"max":%d,"p50":%d,"p75":%d,"p90":%d,"p99":%d,"p999":%d}',
      latency.min, latency.mean, latency.stdev, latency.max,
      latency:percentile(50), latency:percentile(75), latency:percentile(90),
      latency:percentile(99), latency:percentile(99.9)),
  }
  io.write("BENCH_JSON {" .. table.concat(parts, ",") .. "}\n")
end
