-- Platform class of every device, for ordering heatmaps.
SELECT device_id, platform_class FROM devices ORDER BY device_id;
