-- srcc_pair(space, dev_a, dev_b): Spearman rank correlation of two devices over the architectures
-- of one space that both measured (on the same dataset), read from the relation `latency`
-- (space_id, dataset, device_id, arch_id, latency_ms; NULL or NaN latency = failed measurement).
-- Ties get the average rank, as in scipy.stats.spearmanr:
-- average rank = rank() + (rows sharing the value - 1) / 2.
CREATE OR REPLACE MACRO srcc_pair(space, dev_a, dev_b) AS TABLE
WITH shared AS (
    SELECT a.arch_id, a.latency_ms AS x, b.latency_ms AS y
    FROM latency AS a
    JOIN latency AS b
        ON a.space_id = b.space_id AND a.dataset = b.dataset AND a.arch_id = b.arch_id
    WHERE a.space_id = space
      AND a.device_id = dev_a
      AND b.device_id = dev_b
      AND a.latency_ms IS NOT NULL AND NOT isnan(a.latency_ms)
      AND b.latency_ms IS NOT NULL AND NOT isnan(b.latency_ms)
),
ranked AS (
    SELECT
        rank() OVER (ORDER BY x) + (count(*) OVER (PARTITION BY x) - 1) / 2.0 AS rank_x,
        rank() OVER (ORDER BY y) + (count(*) OVER (PARTITION BY y) - 1) / 2.0 AS rank_y
    FROM shared
)
SELECT
    dev_a AS device_a,
    dev_b AS device_b,
    'spearman' AS method,
    count(*) AS n_common,
    CASE WHEN var_pop(rank_x) > 0 AND var_pop(rank_y) > 0 THEN corr(rank_x, rank_y) END AS value
FROM ranked;
