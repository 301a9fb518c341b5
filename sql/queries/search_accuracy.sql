-- `oneproxy search`: every architecture of a space with its test accuracy (%) on a dataset
-- ($1 = space, $2 = dataset); accuracy is null where the dataset has none.
SELECT a.arch_id, a.arch_key, acc.value AS accuracy
FROM architectures AS a
LEFT JOIN accuracy AS acc
    ON acc.space_id = a.space_id AND acc.arch_id = a.arch_id
    AND acc.dataset = $2 AND acc.metric = 'test_accuracy'
WHERE a.space_id = $1
ORDER BY a.arch_id;
