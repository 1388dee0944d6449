-- The write-back's statements (pipelines/writeback/): the audit of every write request in
-- `api_writes`, and the warehouse's reflection of each write that landed. `staged_writes`
-- holds new intents; `staged_outcomes` (write_id, outcome, completed_at, detail) completes
-- them. The reflections read the completed rows, so a write reconciled after a crash is
-- reflected exactly as one whose reply came back.

-- name: insert_api_writes
INSERT INTO api_writes BY NAME SELECT * FROM staged_writes;

-- name: complete_api_writes
UPDATE api_writes SET
    outcome = s.outcome,
    completed_at = s.completed_at,
    detail = s.detail
FROM staged_outcomes AS s
WHERE api_writes.write_id = s.write_id;

-- name: pending_api_writes
-- Intents with no outcome: a run stopped between recording and completing them.
SELECT write_id, endpoint, project_id, backtest_id, optimization_id, change, origin
FROM api_writes
WHERE outcome IS NULL
ORDER BY sent_at, write_id;

-- name: reflect_backtest_tags
UPDATE backtests SET tags = from_json(w.change -> '$.after.tags', '["VARCHAR"]')
FROM api_writes AS w
WHERE w.write_id IN (SELECT write_id FROM staged_outcomes)
  AND w.outcome = 'ok' AND w.endpoint = 'backtests/tags/update'
  AND backtests.backtest_id = w.backtest_id;

-- name: reflect_project_updates
-- A partial update: only the fields the write set.
UPDATE projects SET
    name = CASE WHEN json_exists(w.change, '$.after.name')
        THEN w.change ->> '$.after.name' ELSE projects.name END,
    description = CASE WHEN json_exists(w.change, '$.after.description')
        THEN w.change ->> '$.after.description' ELSE projects.description END
FROM api_writes AS w
WHERE w.write_id IN (SELECT write_id FROM staged_outcomes)
  AND w.outcome = 'ok' AND w.endpoint = 'projects/update'
  AND projects.project_id = w.project_id;

-- name: reflect_deleted_optimizations
-- Deleted upstream: a tombstone; the warehouse keeps every row.
UPDATE optimizations SET deleted_upstream_at = w.completed_at
FROM api_writes AS w
WHERE w.write_id IN (SELECT write_id FROM staged_outcomes)
  AND w.outcome = 'ok' AND w.endpoint = 'optimizations/delete'
  AND optimizations.optimization_id = w.optimization_id
  AND optimizations.deleted_upstream_at IS NULL;

-- name: reflect_deleted_backtests
UPDATE backtests SET deleted_upstream_at = w.completed_at
FROM api_writes AS w
WHERE w.write_id IN (SELECT write_id FROM staged_outcomes)
  AND w.outcome = 'ok' AND w.endpoint = 'backtests/delete'
  AND backtests.backtest_id = w.backtest_id
  AND backtests.deleted_upstream_at IS NULL;
