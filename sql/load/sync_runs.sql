-- Each sync step's runs, for `qcw status` (the table is in sql/state.sql).

-- name: record_sync_run
INSERT INTO sync_runs (step, started_at, finished_at, outcome, detail) VALUES (?, ?, ?, ?, ?);

-- name: last_sync_runs
SELECT step, started_at, finished_at, outcome, detail
FROM sync_runs
QUALIFY row_number() OVER (PARTITION BY step ORDER BY started_at DESC) = 1
ORDER BY started_at;
