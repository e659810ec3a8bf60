-- Plain GET / (wrk's default request); at the end, the latency percentiles wrk's report leaves
-- out, in µs, on one line that benchmarks/tail.mjs reads: p99.9, p99.99 and the maximum.
done = function(summary, latency, requests)
  io.write(string.format("tail-percentiles %d %d %d\n", latency:percentile(99.9), latency:percentile(99.99), latency.max))
end
