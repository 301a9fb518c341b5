-- `oneproxy lut-eval`: one device's operator lookup-table rows ($1 = device id), latency only.
SELECT device_id, space_id, resolution, op_key, op_type, input_h, input_w, input_c,
       output_h, output_w, output_c, mid_c, expand_ratio, kernel, stride, groups, idskip, se,
       activation, metric, mean
FROM op_latency
WHERE device_id = $1 AND metric = 'latency_ms'
ORDER BY resolution, op_key;
