-- `oneproxy report`: every stored device pair of the `srcc` table.
SELECT space_id, dataset, method, device_a, device_b, n_common, value, reason
FROM srcc
ORDER BY space_id, dataset, method, device_a, device_b;
