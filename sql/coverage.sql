-- requires: latency, devices
-- How many architectures each device series covers, and how many of them failed.
CREATE OR REPLACE VIEW coverage AS
SELECT
    l.space_id,
    l.dataset,
    l.device_id,
    d.platform_class,
    count(*) AS architectures,
    count(l.latency_ms) AS measured,
    count(*) - count(l.latency_ms) AS failed,
    min(l.latency_ms) AS min_ms,
    median(l.latency_ms) AS median_ms,
    max(l.latency_ms) AS max_ms,
    string_agg(DISTINCT l.source_id, ',' ORDER BY l.source_id) AS sources
FROM latency AS l
JOIN devices AS d USING (device_id)
GROUP BY ALL
ORDER BY l.space_id, l.dataset, d.platform_class, l.device_id;
