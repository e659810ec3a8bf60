-- The pipelined scenario: every write carries 16 GET / requests; wrk reads the 16 responses
-- before it writes the next batch, so each connection keeps 16 requests in flight.
local depth = 16
local batch

init = function(args)
  batch = string.rep(wrk.format("GET", "/"), depth)
end

request = function()
  return batch
end
