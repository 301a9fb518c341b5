-- The latency rows `oneproxy.api.latency.load_space` pivots: chosen series
-- ($1 = space, $2 = device ids, $3 = the latency dataset of each).
SELECT l.device_id, l.arch_id, l.latency_ms
FROM latency AS l
JOIN (SELECT unnest($2) AS device_id, unnest($3) AS dataset) AS s USING (device_id, dataset)
WHERE l.space_id = $1;
