-- `oneproxy report`: each ingested source with its pinned commit, license, files and rows.
SELECT source_id, repo, commit, license, len(files) AS files,
       CAST(list_sum(list_transform(files, lambda f: f.bytes)) AS BIGINT) AS bytes, latency_rows,
       accuracy_rows, ingested_at
FROM sources
ORDER BY source_id;
