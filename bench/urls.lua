-- wrk script: cycle through a list of request paths, one per line.
--
--   wrk -t2 -c8 -d10s --timeout 30s --latency -s bench/urls.lua http://127.0.0.1:PORT \
--       -- PATHS_FILE THREADS [statuses TIMEOUT_S]
--
-- Each wrk thread starts at its own offset in the list (thread k of n at k/n of the
-- way through), so the threads do not request the same URL at the same moment.
--
-- With "statuses", every answer's HTTP status is counted, and for a 503 whether it
-- carries Retry-After (a Lua call per answer: meant for the slow, heavy workloads).
-- It also counts the requests still unanswered when wrk stops, and how many of them
-- had by then waited longer than TIMEOUT_S at least: wrk itself counts a timeout only
-- when a late answer does arrive, so a request that never gets one would go unseen.
-- (A lower bound: wrk does not say which requests are the unanswered ones, so they
-- are taken to be the most recently sent, the youngest they can be.)
--
-- done() prints one line "BENCHJSON {...}" that bench/run.py parses.

local threads = {}
local thread_count = 0

function setup(thread)
   thread:set("thread_id", thread_count)
   thread_count = thread_count + 1
   threads[thread_count] = thread
end

local paths = {}
local position = 0
statuses = {}          -- per thread: status code (as a string) -> answers
retry_after_503 = 0    -- per thread: 503 answers with a Retry-After header
bare_503 = 0           -- per thread: 503 answers without one
sent = 0               -- per thread: requests sent (with "statuses" only)
answered = 0           -- per thread: answers received (with "statuses" only)
sent_at = {}           -- per thread: os.time() of the last RING requests sent
local RING = 256       -- more than the connections of one thread

local function count_response(status, headers, body)
   answered = answered + 1
   local key = tostring(status)
   statuses[key] = (statuses[key] or 0) + 1
   if status == 503 then
      local found = false
      for name, _ in pairs(headers) do
         if string.lower(name) == "retry-after" then
            found = true
         end
      end
      if found then
         retry_after_503 = retry_after_503 + 1
      else
         bare_503 = bare_503 + 1
      end
   end
end

function init(args)
   local file = args[1]
   local threads_given = tonumber(args[2]) or 1
   for line in io.lines(file) do
      if #line > 0 then
         paths[#paths + 1] = line
      end
   end
   if #paths == 0 then
      error("no paths in " .. tostring(file))
   end
   position = math.floor((thread_id or 0) * #paths / threads_given)
   -- wrk parses headers and calls response() only where the global exists after init.
   counting = (args[3] == "statuses")
   timeout_s = tonumber(args[4]) or 30
   if thread_id == 0 then
      -- wrk calls the first thread's request() once more, right after init, to see
      -- how many requests it returns; that one is never sent
      sent = -1
   end
   if counting then
      response = count_response
   end
end

function request()
   if counting then
      sent = sent + 1
      sent_at[sent % RING] = os.time()
   end
   position = position + 1
   if position > #paths then
      position = 1
   end
   return wrk.format("GET", paths[position])
end

function done(summary, latency, requests)
   local e = summary.errors
   local totals, with_retry, without_retry, counted = {}, 0, 0, false
   local unanswered, unanswered_late, now = 0, 0, os.time()
   for _, thread in ipairs(threads) do
      if thread:get("counting") then
         counted = true
         local last, times = thread:get("sent"), thread:get("sent_at")
         local open = math.min(last - thread:get("answered"), RING)
         local limit = thread:get("timeout_s")
         unanswered = unanswered + open
         for i = last - open + 1, last do
            local at = times[i % RING]
            -- os.time() has whole seconds: "more than limit + 1" is surely late
            if at and now - at > limit + 1 then
               unanswered_late = unanswered_late + 1
            end
         end
      end
      local counts = thread:get("statuses")
      for key, n in pairs(counts or {}) do
         totals[key] = (totals[key] or 0) + n
      end
      with_retry = with_retry + (thread:get("retry_after_503") or 0)
      without_retry = without_retry + (thread:get("bare_503") or 0)
   end
   local parts = {}
   for key, n in pairs(totals) do
      parts[#parts + 1] = string.format('"%s": %d', key, n)
   end
   local status_json = "null"
   if counted then
      status_json = string.format('{"counts": {%s}, "503_with_retry_after": %d, ' ..
                                  '"503_without_retry_after": %d, "unanswered": %d, ' ..
                                  '"unanswered_late": %d}',
                                  table.concat(parts, ", "), with_retry, without_retry,
                                  unanswered, unanswered_late)
   end
   io.write(string.format(
      'BENCHJSON {"requests": %d, "duration_us": %d, "bytes": %d, ' ..
      '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, ' ..
      '"latency_us": {"mean": %.1f, "p50": %d, "p90": %d, "p99": %d, "max": %d}, ' ..
      '"statuses": %s}\n',
      summary.requests, summary.duration, summary.bytes,
      e.connect, e.read, e.write, e.status, e.timeout,
      latency.mean, latency:percentile(50), latency:percentile(90),
      latency:percentile(99), latency.max, status_json))
end
