-- `oneproxy lut-eval`: the devices that have operator lookup tables, with their space.
SELECT DISTINCT device_id, space_id
FROM op_latency
ORDER BY device_id;
