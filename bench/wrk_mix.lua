-- wrk script for the warroom benchmarks: builds the request mix, records nothing itself.
--
--   wrk -t1 -c32 -d<window+tail>s --latency -s bench/wrk_mix.lua URL -- \
--       MODE WINDOW KEY UNIQUE POOL TAG BATCH PATH
--
-- MODE   pd      POST /v2/enqueue, one PagerDuty Events v2 trigger per request
--        am      POST /api/v1/integrations/alertmanager, BATCH alerts per request
--        alerta  POST /alert, Alerta's native format
--        get     GET PATH (the no-op endpoint)
-- WINDOW seconds during which requests are sent. After it each connection sends nothing
--        more and waits, so every request sent gets its answer before wrk's own -d ends
--        (wrk would otherwise drop the requests in flight, and the benchmark could not
--        account for every 2xx exactly).
-- KEY    routing key / integration key (pd, am)
-- UNIQUE fraction of events with a never-seen key; the others repeat one of POOL keys
-- TAG    makes the unique keys of one run distinct from every other run's
--
-- done() prints wrk's own counters and latency percentiles as "WRKSTAT name value" lines
-- for bench/load.py; latencies are in microseconds.

local ffi = require("ffi")
ffi.cdef([[
typedef struct { long tv_sec; long tv_nsec; } warroom_bench_timespec;
int clock_gettime(int clk_id, warroom_bench_timespec *tp);
]])
local timespec = ffi.new("warroom_bench_timespec")
local function now()
  ffi.C.clock_gettime(1, timespec) -- CLOCK_MONOTONIC
  return tonumber(timespec.tv_sec) + tonumber(timespec.tv_nsec) * 1e-9
end

-- main state: number the threads -----------------------------------------------------
local next_id = 0
function setup(thread)
  next_id = next_id + 1
  thread:set("thread_id", next_id)
end

-- thread state -----------------------------------------------------------------------
local mode, window, key, unique, pool, tag, batch, path
local deadline, counter = 0, 0
local json_headers = { ["Content-Type"] = "application/json" }
local am_headers

function init(args)
  mode = args[1] or "get"
  window = tonumber(args[2] or "10")
  key = args[3] or ""
  unique = tonumber(args[4] or "0.1")
  pool = tonumber(args[5] or "1000")
  tag = args[6] or "run"
  batch = tonumber(args[7] or "100")
  path = args[8] or "/healthz"
  am_headers = { ["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. key }
  math.randomseed(os.time() * 1000 + (thread_id or 0) * 7919)
  deadline = now() + window
end

local function pick(prefix)
  counter = counter + 1
  if math.random() < unique then
    return string.format("%s-u-%s-%d-%d", prefix, tag, thread_id or 0, counter)
  end
  return string.format("%s-p-%d", prefix, math.random(pool))
end

local PD = '{"routing_key":"%s","event_action":"trigger","dedup_key":"%s",'
  .. '"payload":{"summary":"DISK at 99%% on %s","source":"%s",'
  .. '"severity":"critical","timestamp":"2024-03-15T09:30:00.000+0000",'
  .. '"component":"mysql","group":"prod-datapipe","class":"disk",'
  .. '"custom_details":{"free space":"1%%","ping time":"1500ms","load avg":0.75}},'
  .. '"client":"warroom bench","client_url":"https://monitoring.example.com"}'

local AM_ALERT = '{"status":"firing","labels":{"alertname":"HighErrorRate",'
  .. '"instance":"%s:9100","job":"node","severity":"critical"},'
  .. '"annotations":{"summary":"Error rate above 10%% on %s",'
  .. '"description":"5xx ratio has been above 10%% for 5 minutes"},'
  .. '"startsAt":"2024-03-15T09:30:00Z","endsAt":"0001-01-01T00:00:00Z",'
  .. '"generatorURL":"http://prometheus.example.com:9090/graph?g0.expr=x",'
  .. '"fingerprint":"%s"}'

local AM_HEAD = '{"version":"4","groupKey":"{}:{alertname=\\"HighErrorRate\\"}",'
  .. '"truncatedAlerts":0,"status":"firing","receiver":"warroom",'
  .. '"groupLabels":{"alertname":"HighErrorRate"},'
  .. '"commonLabels":{"alertname":"HighErrorRate","job":"node","severity":"critical"},'
  .. '"commonAnnotations":{},"externalURL":"http://alertmanager.example.com:9093",'
  .. '"alerts":['

local ALERTA = '{"resource":"%s","event":"HttpServerError","environment":"Production",'
  .. '"severity":"major","service":["payment-service"],"group":"Web",'
  .. '"value":"503","text":"DISK at 99%% on %s","tags":["bench"],'
  .. '"origin":"warroom-bench","type":"exceptionAlert"}'

function request()
  if now() >= deadline then
    return "" -- quiesce: send nothing more, let the answers in flight arrive
  end
  if mode == "pd" then
    local dedup = pick("pd")
    return wrk.format("POST", "/v2/enqueue", json_headers, string.format(PD, key, dedup, dedup, dedup))
  elseif mode == "am" then
    local parts = {}
    for i = 1, batch do
      local fp = pick("am")
      parts[i] = string.format(AM_ALERT, fp, fp, fp)
    end
    local body = AM_HEAD .. table.concat(parts, ",") .. "]}"
    return wrk.format("POST", "/api/v1/integrations/alertmanager", am_headers, body)
  elseif mode == "alerta" then
    local resource = pick("host")
    return wrk.format("POST", "/alert", json_headers, string.format(ALERTA, resource, resource))
  end
  return wrk.format("GET", path)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("WRKSTAT requests %d\n", summary.requests))
  io.write(string.format("WRKSTAT duration_us %d\n", summary.duration))
  io.write(string.format("WRKSTAT bytes %d\n", summary.bytes))
  io.write(string.format("WRKSTAT err_connect %d\n", e.connect))
  io.write(string.format("WRKSTAT err_read %d\n", e.read))
  io.write(string.format("WRKSTAT err_write %d\n", e.write))
  io.write(string.format("WRKSTAT err_status %d\n", e.status))
  io.write(string.format("WRKSTAT err_timeout %d\n", e.timeout))
  io.write(string.format("WRKSTAT lat_mean %f\n", latency.mean))
  io.write(string.format("WRKSTAT lat_stdev %f\n", latency.stdev))
  io.write(string.format("WRKSTAT lat_max %d\n", latency.max))
  for _, p in ipairs({ 50, 90, 99, 99.9 }) do
    io.write(string.format("WRKSTAT lat_p%s %d\n", tostring(p), latency:percentile(p)))
  end
end
