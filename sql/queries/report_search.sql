-- `oneproxy report`: every stored search pick (one row per run, device and budget).
SELECT space_id, dataset, device_id, budget_ms, arch_id, accuracy, latency_ms, method, proxy,
       chosen_proxy, n_samples, regret, violation, violation_ms, violation_pct
FROM search_result
ORDER BY space_id, dataset, method, proxy, n_samples, device_id, budget_ms;
