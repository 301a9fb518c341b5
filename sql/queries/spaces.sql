-- `oneproxy spaces`: each search space with its size and how many devices measured it.
SELECT s.space_id, s.size, s.description, count(DISTINCT l.device_id) AS devices
FROM spaces AS s
LEFT JOIN latency AS l USING (space_id)
GROUP BY ALL
ORDER BY s.space_id;
