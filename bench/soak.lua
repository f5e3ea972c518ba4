-- wrk script for bench/soak.py: cycle a list of paths and count answers by status.
--
--   wrk -t1 -c16 -d60s --latency -s bench/soak.lua http://127.0.0.1:PORT -- PATHS_FILE
--
-- done() prints one line "SOAKJSON {...}" with the statuses and latency percentiles.

local threads = {}

function setup(thread)
   thread:set("thread_id", #threads)
   table.insert(threads, thread)
end

local paths = {}
local position = 0
statuses = {}

function init(args)
   for line in io.lines(args[1]) do
      if #line > 0 then
         paths[#paths + 1] = line
      end
   end
   position = (thread_id or 0) * 7919 % #paths
end

function request()
   position = position % #paths + 1
   return wrk.format("GET", paths[position])
end

function response(status, headers, body)
   statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
   local total = {}
   for _, thread in ipairs(threads) do
      for status, count in pairs(thread:get("statuses")) do
         total[status] = (total[status] or 0) + count
      end
   end
   local parts = {}
   for status, count in pairs(total) do
      parts[#parts + 1] = string.format('"%d": %d', status, count)
   end
   local e = summary.errors
   io.write(string.format(
      'SOAKJSON {"requests": %d, "statuses": {%s}, ' ..
      '"errors": {"connect": %d, "read": %d, "write": %d, "timeout": %d}, ' ..
      '"latency_ms": {"p50": %.1f, "p90": %.1f, "p99": %.1f, "max": %.1f}}\n',
      summary.requests, table.concat(parts, ", "),
      e.connect, e.read, e.write, e.timeout,
      latency:percentile(50) / 1000, latency:percentile(90) / 1000,
      latency:percentile(99) / 1000, latency.max / 1000))
end
