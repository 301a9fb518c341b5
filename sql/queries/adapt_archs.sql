-- `oneproxy adapt / evaluate / predict`: every architecture of a space ($1), in arch_id order.
SELECT arch_id, arch_key
FROM architectures
WHERE space_id = $1
ORDER BY arch_id;
