-- `oneproxy predict`: latency rows of some devices
-- ($1 = space, $2 = dataset, $3 = device ids); null latency_ms = failed measurement.
SELECT device_id, arch_id, latency_ms
FROM latency
WHERE space_id = $1 AND dataset = $2 AND list_contains($3, device_id);
