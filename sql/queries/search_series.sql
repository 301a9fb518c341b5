-- `oneproxy search`: the latency series each device of a space is searched with
-- ($1 = space, $2 = search dataset). A device's series on the search dataset when it has one,
-- else its CIFAR-10 series: NAS-Bench-201 latencies are all measured on the CIFAR-10 input.
SELECT device_id, dataset AS latency_dataset, architectures, measured
FROM coverage
WHERE space_id = $1 AND dataset IN ($2, 'cifar10')
QUALIFY row_number() OVER (PARTITION BY device_id ORDER BY dataset <> $2) = 1
ORDER BY device_id;
