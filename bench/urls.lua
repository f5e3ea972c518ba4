-- wrk script: cycle through a list of request paths, one per line.
--
--   wrk -t2 -c8 -d10s --latency -s bench/urls.lua http://127.0.0.1:PORT -- PATHS_FILE THREADS
--
-- Each wrk thread starts at its own offset in the list (thread k of n at k/n of the
-- way through), so the threads do not request the same URL at the same moment.
-- done() prints one line "BENCHJSON {...}" that bench/run.py parses.

local thread_count = 0

function setup(thread)
   thread:set("thread_id", thread_count)
   thread_count = thread_count + 1
end

local paths = {}
local position = 0

function init(args)
   local file = args[1]
   local threads = tonumber(args[2]) or 1
   for line in io.lines(file) do
      if #line > 0 then
         paths[#paths + 1] = line
      end
   end
   if #paths == 0 then
      error("no paths in " .. tostring(file))
   end
   position = math.floor((thread_id or 0) * #paths / threads)
end

function request()
   position = position + 1
   if position > #paths then
      position = 1
   end
   return wrk.format("GET", paths[position])
end

function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      'BENCHJSON {"requests": %d, "duration_us": %d, "bytes": %d, ' ..
      '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, ' ..
      '"latency_us": {"mean": %.1f, "p50": %d, "p90": %d, "p99": %d, "max": %d}}\n',
      summary.requests, summary.duration, summary.bytes,
      e.connect, e.read, e.write, e.status, e.timeout,
      latency.mean, latency:percentile(50), latency:percentile(90),
      latency:percentile(99), latency.max))
end
