-- wrk script for the paging benchmark's storm: LIMIT warning alerts per thread, each with
-- a fresh dedup key, then cheap health checks until wrk's duration ends.
--   wrk -t2 -c32 -dNs -s bench/wrk_storm.lua URL -- KEY TAG LIMIT
local threads = {}
function setup(thread)
  table.insert(threads, thread)
  thread:set("thread_id", #threads)
end

local key, tag, limit, sent
function init(args)
  key, tag, limit, sent = args[1], args[2], tonumber(args[3]), 0
end

local headers = { ["Content-Type"] = "application/json" }
function request()
  if sent >= limit then
    return wrk.format("GET", "/healthz")
  end
  sent = sent + 1
  local body = string.format(
    '{"routing_key":"%s","event_action":"trigger","dedup_key":"storm-%s-%d-%d",'
      .. '"payload":{"summary":"storm alert %d","source":"bench","severity":"warning"}}',
    key, tag, thread_id, sent, sent)
  return wrk.format("POST", "/v2/enqueue", headers, body)
end
