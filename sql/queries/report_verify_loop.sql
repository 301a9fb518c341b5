-- `oneproxy report`: every stored run of the simulated verify loop (`evaluate --search --save`).
SELECT *
FROM verify_loop
ORDER BY protocol, strategy, draw, n_samples, target, seed;
