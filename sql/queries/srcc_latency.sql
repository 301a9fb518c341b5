-- `oneproxy srcc`: latency series of a space ($1 = space, $2 = dataset or NULL,
-- $3 = device ids or NULL, $4 = platform classes or NULL).
SELECT l.dataset, l.device_id, l.arch_id, l.latency_ms
FROM latency AS l
JOIN devices AS d USING (device_id)
WHERE l.space_id = $1
    AND ($2 IS NULL OR l.dataset = $2)
    AND ($3 IS NULL OR list_contains($3, l.device_id))
    AND ($4 IS NULL OR list_contains($4, d.platform_class));
