-- The write-back's selections (pipelines/writeback/select.py). `{where}` is the user's SQL
-- predicate, over the relation each query names; it is checked to leave one SELECT.

-- name: backtests_where
-- Backtests chosen by a predicate over `backtest_summary`, in project order.
SELECT project_id, backtest_id, name, tags, deleted_upstream_at
FROM backtests
WHERE backtest_id IN (SELECT backtest_id FROM backtest_summary WHERE ({where}))
ORDER BY project_id, created_at, backtest_id;

-- name: backtests_by_id
SELECT project_id, backtest_id, name, tags, deleted_upstream_at
FROM backtests
WHERE list_contains(?, backtest_id)
ORDER BY project_id, created_at, backtest_id;

-- name: projects_where
-- Projects chosen by a predicate over `projects`.
SELECT project_id, name, description, deleted_upstream_at
FROM projects
WHERE ({where})
ORDER BY project_id;

-- name: projects_by_id
SELECT project_id, name, description, deleted_upstream_at
FROM projects
WHERE list_contains(?, project_id)
ORDER BY project_id;

-- name: optimizations_to_prune
-- Optimizations chosen by a predicate over `optimizations`, with their archive status.
SELECT project_id, optimization_id, name, archived, missing, deleted_upstream_at
FROM optimization_archive
WHERE optimization_id IN (SELECT optimization_id FROM optimizations WHERE ({where}))
ORDER BY project_id, optimization_id;

-- name: optimization_archive_now
-- One optimization's archive status, checked again just before its delete.
SELECT archived, missing, deleted_upstream_at
FROM optimization_archive
WHERE optimization_id = ?;

-- name: backtests_to_prune
-- Backtests chosen by a predicate over `backtest_summary`, with their archive status.
SELECT project_id, backtest_id, name, archived, missing, deleted_upstream_at
FROM backtest_archive
WHERE backtest_id IN (SELECT backtest_id FROM backtest_summary WHERE ({where}))
ORDER BY project_id, backtest_id;

-- name: backtest_archive_now
SELECT archived, missing, deleted_upstream_at
FROM backtest_archive
WHERE backtest_id = ?;

-- name: listed_backtests
-- Backtests the API still lists (tag rules consider only these).
SELECT project_id, backtest_id, name, tags
FROM backtests
WHERE deleted_upstream_at IS NULL
ORDER BY project_id, created_at, backtest_id;
