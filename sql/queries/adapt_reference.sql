-- `oneproxy evaluate`: HELP's reference architectures of a space ($1), in their order.
SELECT arch_id
FROM reference_archs
WHERE space_id = $1
ORDER BY position;
