-- `oneproxy devices [--space S]`: device metadata with per-space coverage ($1 = space or NULL).
SELECT d.device_id, d.platform_class, d.hardware, d.framework, d.precision, d.batch_size,
       c.space_id, c.architectures, c.failed
FROM devices AS d
JOIN coverage AS c USING (device_id)
WHERE $1 IS NULL OR c.space_id = $1
ORDER BY c.space_id, d.platform_class, d.device_id;
