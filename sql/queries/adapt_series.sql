-- `oneproxy adapt / evaluate / predict`: latency series of a space ($1 = space), with how many
-- architectures each has rows for and how many it measured (non-null latency).
SELECT dataset, device_id, count(*)::BIGINT AS rows, count(latency_ms)::BIGINT AS measured
FROM latency
WHERE space_id = $1
GROUP BY dataset, device_id
ORDER BY dataset, device_id;
