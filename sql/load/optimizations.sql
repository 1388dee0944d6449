-- The optimizations group's statements (pipelines/sync/steps/optimizations.py). Each table's
-- rows of the optimizations read are replaced in one transaction: `staged_<table>` holds the
-- new rows, `staged_optimizations` the optimizations replaced.

-- name: final_optimization_ids
-- Optimizations loaded in a final state: never read again.
SELECT optimization_id FROM optimizations WHERE status IN ('Completed', 'Aborted');

-- name: live_optimization_ids
-- The optimizations not deleted upstream, with their project: what its list should hold.
SELECT optimization_id, project_id FROM optimizations WHERE deleted_upstream_at IS NULL;

-- name: delete_optimizations
DELETE FROM optimizations
WHERE optimization_id IN (SELECT optimization_id FROM staged_optimizations);

-- name: delete_optimization_parameters
DELETE FROM optimization_parameters
WHERE optimization_id IN (SELECT optimization_id FROM staged_optimizations);

-- name: delete_optimization_constraints
DELETE FROM optimization_constraints
WHERE optimization_id IN (SELECT optimization_id FROM staged_optimizations);

-- name: delete_optimization_backtests
DELETE FROM optimization_backtests
WHERE optimization_id IN (SELECT optimization_id FROM staged_optimizations);

-- name: delete_optimization_backtest_statistics
DELETE FROM optimization_backtest_statistics
WHERE optimization_id IN (SELECT optimization_id FROM staged_optimizations);

-- name: insert_optimizations
INSERT INTO optimizations BY NAME SELECT * FROM staged_optimizations;

-- name: insert_optimization_parameters
INSERT INTO optimization_parameters BY NAME SELECT * FROM staged_optimization_parameters;

-- name: insert_optimization_constraints
INSERT INTO optimization_constraints BY NAME SELECT * FROM staged_optimization_constraints;

-- name: insert_optimization_backtests
INSERT INTO optimization_backtests BY NAME SELECT * FROM staged_optimization_backtests;

-- name: insert_optimization_backtest_statistics
INSERT INTO optimization_backtest_statistics BY NAME
SELECT * FROM staged_optimization_backtest_statistics;

-- name: mark_unlisted_optimizations
-- An optimization of a listed project that the list no longer holds was deleted upstream. The
-- warehouse is the archive: it keeps the optimization and all its rows, stamped with when the
-- sync found it gone (an earlier stamp is kept), and never reads it again. `staged_listed`
-- holds (project_id, NULL) for each listed project and (project_id, optimization_id) for each
-- listed optimization.
UPDATE optimizations SET deleted_upstream_at = now()
WHERE deleted_upstream_at IS NULL
  AND project_id IN (SELECT project_id FROM staged_listed)
  AND optimization_id NOT IN (
      SELECT optimization_id FROM staged_listed WHERE optimization_id IS NOT NULL
  );

-- name: revive_listed_optimizations
-- One listed again after it was found gone (or its project was) revives: NULL again. An
-- optimization read this sync was replaced already; a final one is not read again.
UPDATE optimizations SET deleted_upstream_at = NULL
WHERE deleted_upstream_at IS NOT NULL
  AND optimization_id IN (
      SELECT optimization_id FROM staged_listed WHERE optimization_id IS NOT NULL
  );
