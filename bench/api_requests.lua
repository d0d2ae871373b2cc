-- wrk script for bench/api.sh: GET requests for paths picked at random from a fixed list, with
-- a bearer token, counting every reply that is not 2xx (wrk itself only counts status >= 400)
-- and every connection that waited longer than the timeout for a reply. wrk cannot see those:
-- it counts a slow reply as a timeout only once it arrives, so a connection that is never
-- answered shows no error at all in wrk's own figures, and the script cannot tell a thread's
-- connections apart. So run it with one connection per thread (wrk -tN -cN): a thread's gaps
-- between replies are then its connection's waits. A connection that waited longer than the
-- timeout at any moment is "stalled"; one still waiting at the end is "stuck".
-- Usage: wrk -tN -cN ... --timeout T -s bench/api_requests.lua URL -- PATHS_FILE TOKEN
--        TIMEOUT_SECONDS
-- PATHS_FILE holds one request path (with its query string) per line. Each wrk thread draws
-- from its own seeded generator, so two runs with the same thread count send the same sequence.
-- The paths stay in one string per thread, found by an offset array outside the Lua heap, and
-- each request is put together when it is sent: 200,000 paths as separate request strings in
-- each of 64 threads kept LuaJIT's garbage collector so busy that wrk fell behind its own timer.
-- At the end one line "api-bench-result {json}" carries the figures for bench/api.sh.
local ffi = require("ffi")
ffi.cdef [[
  typedef struct { long tv_sec; long tv_nsec; } api_bench_timespec;
  int clock_gettime(int clock, api_bench_timespec *time);
  void *memchr(const void *s, int c, size_t n);
]]
local clock_monotonic = 1
local timespec = ffi.new("api_bench_timespec")
local function now()
  ffi.C.clock_gettime(clock_monotonic, timespec)
  return tonumber(timespec.tv_sec) + tonumber(timespec.tv_nsec) / 1e9
end

local threads = {}
local next_thread = 0

function setup(thread)
  next_thread = next_thread + 1
  thread:set("thread_number", next_thread)
  table.insert(threads, thread)
end

local paths_text = ""  -- the whole paths file; kept referenced while starts points into it
local starts = nil  -- int32_t[count]: the offset of each path in paths_text
local ends = nil  -- int32_t[count]: the offset just past each path (its newline or the end)
local count = 0
local request_head, request_tail = "", ""  -- a request is request_head .. path .. request_tail
sent = 0
received = 0
first_sent = 0  -- when this thread's connection sent its first request (monotonic seconds)
last_received = 0  -- when it received its latest reply; 0: none yet
longest_wait = 0  -- the longest gap, in seconds, between sending and receiving, or two replies
timeout_seconds = 2  -- wrk's default; the third argument, read back by done()
non2xx = 0
statuses = ""  -- "status:count ..." of the non-2xx replies, for the report
local status_counts = {}

function init(args)
  local paths_file, token = args[1], args[2]
  if not paths_file or not token then
    error("usage: wrk ... -s api_requests.lua URL -- PATHS_FILE TOKEN [TIMEOUT_SECONDS]")
  end
  local headers = { ["Authorization"] = "Bearer " .. token, ["Accept"] = "application/json" }
  local marker = "/api-bench-path-marker"
  local template = wrk.format("GET", marker, headers)
  local at = template:find(marker, 1, true)
  request_head, request_tail = template:sub(1, at - 1), template:sub(at + #marker)
  local file = assert(io.open(paths_file, "rb"))
  paths_text = file:read("*a")
  file:close()
  local size = #paths_text
  local text = ffi.cast("const char *", paths_text)
  -- Calls visit(start, stop) for each non-empty line: the offsets of its first byte and of the
  -- byte after its last.
  local function each_line(visit)
    local offset = 0
    while offset < size do
      local newline = ffi.C.memchr(text + offset, 10, size - offset)
      local stop = newline == nil and size or ffi.cast("const char *", newline) - text
      if stop > offset then visit(offset, stop) end
      offset = stop + 1
    end
  end
  local lines = 0
  each_line(function() lines = lines + 1 end)
  starts = ffi.new("int32_t[?]", math.max(lines, 1))
  ends = ffi.new("int32_t[?]", math.max(lines, 1))
  each_line(function(start, stop)
    starts[count], ends[count] = start, stop
    count = count + 1
  end)
  if count == 0 then error(paths_file .. ": no request paths") end
  timeout_seconds = tonumber(args[3] or timeout_seconds)
  math.randomseed(1000 + thread_number)
end

function request()
  sent = sent + 1
  if first_sent == 0 then first_sent = now() end
  local k = math.random(count) - 1
  return request_head .. paths_text:sub(starts[k] + 1, ends[k]) .. request_tail
end

function response(status, headers, body)
  received = received + 1
  local at = now()
  local waited = at - (last_received > 0 and last_received or first_sent)
  if waited > longest_wait then longest_wait = waited end
  last_received = at
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
    status_counts[status] = (status_counts[status] or 0) + 1
    local parts = {}
    for code, count in pairs(status_counts) do table.insert(parts, code .. ":" .. count) end
    statuses = table.concat(parts, " ")
  end
end

function done(summary, latency, requests_seen)
  local ended = now()
  local timeout = threads[1] and threads[1]:get("timeout_seconds") or 2
  local total = { sent = 0, received = 0, non2xx = 0, stuck = 0, stalled = 0, longest = 0 }
  local all_statuses = {}
  for _, thread in ipairs(threads) do
    local thread_sent = thread:get("sent") or 0
    total.sent = total.sent + thread_sent
    total.received = total.received + (thread:get("received") or 0)
    total.non2xx = total.non2xx + (thread:get("non2xx") or 0)
    local longest = thread:get("longest_wait") or 0
    if thread_sent > 0 then
      -- The request in flight when the run ended has waited since the last reply.
      local last = thread:get("last_received") or 0
      local waiting = ended - (last > 0 and last or thread:get("first_sent"))
      if waiting > timeout then total.stuck = total.stuck + 1 end
      if waiting > longest then longest = waiting end
    end
    if longest > timeout then total.stalled = total.stalled + 1 end
    if longest > total.longest then total.longest = longest end
    local s = thread:get("statuses")
    if s and s ~= "" then table.insert(all_statuses, s) end
  end
  local e = summary.errors
  io.write(string.format(
    'api-bench-result {"requests": %d, "duration_us": %d, "bytes": %d, ' ..
    '"p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d, "mean_us": %.1f, ' ..
    '"sent": %d, "connections": %d, "stuck_connections": %d, "stalled_connections": %d, ' ..
    '"longest_wait_us": %d, "non2xx": %d, "non2xx_statuses": "%s", "errors_status": %d, ' ..
    '"errors_connect": %d, "errors_read": %d, "errors_write": %d, "errors_timeout": %d}\n',
    summary.requests, summary.duration, summary.bytes,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    latency.mean, total.sent, #threads, total.stuck, total.stalled, total.longest * 1e6,
    total.non2xx, table.concat(all_statuses, " "), e.status, e.connect, e.read, e.write,
    e.timeout))
end
