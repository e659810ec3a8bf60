-- Appended by the harness to every wrk run: the percentiles wrk's --latency table leaves out.
-- Microseconds, as wrk keeps them.
done = function(summary, latency, requests)
  io.write(string.format("PEGASUS-LATENCY p99.9=%d max=%d\n", latency:percentile(99.9), latency.max))
end
