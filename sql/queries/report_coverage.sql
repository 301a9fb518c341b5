-- `oneproxy report`: every device series (space, latency dataset, device) with the device's
-- name and platform class, measured and failed architectures, and the sources it came from.
SELECT c.space_id, c.dataset, c.device_id, d.display_name, c.platform_class, c.measured,
       c.failed, c.sources
FROM coverage AS c
JOIN devices AS d USING (device_id)
ORDER BY c.space_id, c.dataset, c.platform_class, c.device_id;
