-- The latency rows `oneproxy.api.latency.load_space` pivots: chosen series
-- ($1 = space, $2 = device ids, $3 = the latency dataset of each), each row with the position
-- of its series in $2 (`device`, from 0: its row in the matrix).
SELECT s.device, l.arch_id, l.latency_ms
FROM latency AS l
JOIN (SELECT unnest($2) AS device_id, unnest($3) AS dataset,
             generate_subscripts($2, 1) - 1 AS device) AS s USING (device_id, dataset)
WHERE l.space_id = $1;
