-- requires: latency, architectures, accuracy, devices
-- Latency joined with each architecture's key, its device's platform class and its test accuracy
-- on the dataset whose latency it is (NULL where that dataset has no accuracy).
CREATE OR REPLACE VIEW latency_detail AS
SELECT
    l.space_id,
    l.dataset,
    l.device_id,
    d.platform_class,
    l.arch_id,
    a.arch_key,
    l.latency_ms,
    l.status,
    acc.value AS test_accuracy,
    l.source_id
FROM latency AS l
JOIN architectures AS a USING (space_id, arch_id)
JOIN devices AS d USING (device_id)
LEFT JOIN accuracy AS acc
    ON acc.space_id = l.space_id
    AND acc.arch_id = l.arch_id
    AND acc.dataset = l.dataset
    AND acc.metric = 'test_accuracy';
