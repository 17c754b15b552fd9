-- wrk script: POST /v1/events with a ~1 KB payload. Set TENANT and API_KEY in the environment.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["TENANT"] = os.getenv("TENANT")
wrk.headers["API-KEY"] = os.getenv("API_KEY")
local pad = string.rep("x", 900)
wrk.body = '{"type":"invoice.paid","data":{"invoice":"in_123","amount":4200,"note":"' .. pad .. '"}}'

done = function(summary, latency, requests)
	io.write(string.format("requests/s %.0f  p50 %.2f ms  p99 %.2f ms  non-2xx %d  errors %d\n",
		summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000,
		latency:percentile(99) / 1000, summary.errors.status,
		summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
