-- wrk script that sends N requests per write (HTTP/1.1 pipelining), as TechEmpower's plaintext test does.
-- Usage: wrk -s benchmarks/pipeline.lua http://127.0.0.1:5050/plaintext -- 16
-- wrk counts responses, so its Requests/sec stays the number of requests answered per second.

init = function(args)
  local depth = tonumber(args[1]) or 1
  local requests = {}
  for i = 1, depth do
    requests[i] = wrk.format()
  end
  pipelined = table.concat(requests)
end

request = function()
  return pipelined
end
