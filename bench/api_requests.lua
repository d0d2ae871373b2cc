-- wrk script for bench/api.sh: GET requests for paths picked at random from a fixed list, with
-- a bearer token, counting every reply that is not 2xx (wrk itself only counts status >= 400).
-- Usage: wrk ... -s bench/api_requests.lua URL -- PATHS_FILE TOKEN
-- PATHS_FILE holds one request path (with its query string) per line. Each wrk thread draws
-- from its own seeded generator, so two runs with the same thread count send the same sequence.
-- At the end one line "api-bench-result {json}" carries the figures for bench/api.sh.

local threads = {}
local next_thread = 0

function setup(thread)
  next_thread = next_thread + 1
  thread:set("thread_number", next_thread)
  table.insert(threads, thread)
end

local requests = {}
non2xx = 0
statuses = ""  -- "status:count ..." of the non-2xx replies, for the report
local status_counts = {}

function init(args)
  local paths_file, token = args[1], args[2]
  if not paths_file or not token then
    error("usage: wrk ... -s api_requests.lua URL -- PATHS_FILE TOKEN")
  end
  local headers = { ["Authorization"] = "Bearer " .. token, ["Accept"] = "application/json" }
  for line in io.lines(paths_file) do
    if line ~= "" then
      table.insert(requests, wrk.format("GET", line, headers))
    end
  end
  if #requests == 0 then error(paths_file .. ": no request paths") end
  math.randomseed(1000 + thread_number)
end

function request()
  return requests[math.random(#requests)]
end

function response(status, headers, body)
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
    status_counts[status] = (status_counts[status] or 0) + 1
    local parts = {}
    for code, count in pairs(status_counts) do table.insert(parts, code .. ":" .. count) end
    statuses = table.concat(parts, " ")
  end
end

function done(summary, latency, requests_seen)
  local total_non2xx = 0
  local all_statuses = {}
  for _, thread in ipairs(threads) do
    total_non2xx = total_non2xx + (thread:get("non2xx") or 0)
    local s = thread:get("statuses")
    if s and s ~= "" then table.insert(all_statuses, s) end
  end
  local e = summary.errors
  io.write(string.format(
    'api-bench-result {"requests": %d, "duration_us": %d, "bytes": %d, ' ..
    '"p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d, "mean_us": %.1f, ' ..
    '"non2xx": %d, "non2xx_statuses": "%s", "errors_status": %d, ' ..
    '"errors_connect": %d, "errors_read": %d, "errors_write": %d, "errors_timeout": %d}\n',
    summary.requests, summary.duration, summary.bytes,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    latency.mean, total_non2xx, table.concat(all_statuses, " "), e.status,
    e.connect, e.read, e.write, e.timeout))
end
