-- `oneproxy report`: each search space with its size, latency datasets, devices, the
-- architectures with at least one measured latency, and the measured / failed latency rows.
SELECT s.space_id, s.description, s.size, s.log10_size,
       string_agg(DISTINCT l.dataset, ', ' ORDER BY l.dataset) AS datasets,
       count(DISTINCT l.device_id) AS devices,
       count(DISTINCT l.arch_id) FILTER (WHERE l.latency_ms IS NOT NULL) AS architectures,
       count(l.latency_ms) AS measurements,
       count(l.arch_id) - count(l.latency_ms) AS failed
FROM spaces AS s
LEFT JOIN latency AS l USING (space_id)
GROUP BY ALL
ORDER BY s.space_id;
