-- `oneproxy sources`: each ingested source with its commit, license, file count and rows.
SELECT source_id, repo, commit, license, len(files) AS files, latency_rows, accuracy_rows,
       ingested_at
FROM sources
ORDER BY source_id;
