-- wrk script for bench/http_load.sh: POSTs one photo, as the raw body with
-- Content-Type image/jpeg, to the URL's path (/api/detect), and counts the
-- replies that are not 2xx (wrk's own errors.status counts only > 399).
--
--   wrk -t T -c C -d D --latency -s bench/post_photo.lua URL -- PHOTO [QUOTA]
--
-- QUOTA: each wrk thread stops after that many replies (use it with one
-- connection per thread, -c = -t, so that no request is cut off in flight).
-- done() prints one line that the script parses:
--   RESULT requests=N duration_us=N non2xx=N connect=N read=N write=N
--          status=N timeout=N p50_us=N p95_us=N p99_us=N max_us=N

local threads = {}

function setup(thread)
   table.insert(threads, thread)
end

function init(args)
   local path = args[1]
   if not path then error("post_photo.lua: no photo: wrk ... -s post_photo.lua URL -- PHOTO") end
   local f = assert(io.open(path, "rb"))
   local photo = f:read("*a")
   f:close()
   -- Built once per thread: wrk calls request() for every request.
   prepared = wrk.format("POST", nil, {["Content-Type"] = "image/jpeg"}, photo)
   quota = tonumber(args[2] or "0")
   replies = 0
   non2xx = 0
end

function request()
   return prepared
end

function response(status, headers, body)
   replies = replies + 1
   if status < 200 or status > 299 then non2xx = non2xx + 1 end
   if quota > 0 and replies >= quota then wrk.thread:stop() end
end

function done(summary, latency, requests)
   local non2xx_total = 0
   for _, thread in ipairs(threads) do non2xx_total = non2xx_total + thread:get("non2xx") end
   local e = summary.errors
   io.write(string.format(
      "RESULT requests=%d duration_us=%d non2xx=%d connect=%d read=%d write=%d status=%d timeout=%d " ..
      "p50_us=%d p95_us=%d p99_us=%d max_us=%d\n",
      summary.requests, summary.duration, non2xx_total, e.connect, e.read, e.write, e.status, e.timeout,
      latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max))
end
