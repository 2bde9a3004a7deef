-- wrk script: rotates through the URL list in $BENCH_PATHS (one per line), sends the bearer
-- token from $TOKEN, and prints latency percentiles (wrk's --latency has no p95) and errors.
local token = os.getenv("TOKEN")
local paths = {}
for line in io.lines(os.getenv("BENCH_PATHS")) do
  if line ~= "" then table.insert(paths, line) end
end
assert(#paths > 0, "BENCH_PATHS lists no path")
local counter = 0

request = function()
  counter = counter + 1
  local path = paths[(counter % #paths) + 1]
  return wrk.format("GET", path, { ["Authorization"] = "Bearer " .. token })
end

done = function(summary, latency, requests)
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.timeout + summary.errors.status
  io.write(string.format("RESULT requests=%d errors=%d rps=%.1f", summary.requests, errors,
    summary.requests / (summary.duration / 1e6)))
  for _, p in ipairs({ 50, 90, 95, 99 }) do
    io.write(string.format(" p%d=%.1fms", p, latency:percentile(p) / 1000))
  end
  io.write(string.format(" max=%.1fms\n", latency.max / 1000))
end
