-- `oneproxy run`: devices and rows per space, dataset and platform class.
SELECT space_id, dataset, platform_class, count(*) AS devices, sum(architectures) AS rows,
       sum(failed) AS failed
FROM coverage
GROUP BY ALL
ORDER BY space_id, dataset, platform_class;
