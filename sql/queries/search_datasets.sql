-- `oneproxy search`: datasets with test accuracies for a space ($1 = space).
SELECT DISTINCT dataset
FROM accuracy
WHERE space_id = $1 AND metric = 'test_accuracy'
ORDER BY dataset;
