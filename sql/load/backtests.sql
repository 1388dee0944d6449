-- The backtests group's statements (pipelines/sync/steps/backtests.py and statistics.py). A
-- statement that reads an Arrow table reads it under the name it is given: `staged` for rows,
-- `staged_backtests` for the backtests (project_id, backtest_id) they belong to.

-- name: delete_known_backtests
-- With `insert_backtests`, in one transaction: replace known backtests (their status moves
-- on), add new ones.
DELETE FROM backtests WHERE backtest_id IN (SELECT backtest_id FROM staged);

-- name: insert_backtests
INSERT INTO backtests BY NAME SELECT * FROM staged;

-- name: backtests_needing_statistics
-- Finished backtests whose final results are not loaded yet: their statistics, or (loaded
-- before there were such tables) their closed trades and performance. `completed` is the
-- sync's one rule for "finished" (`pipelines.schema.backtests.is_backtest_finished`).
SELECT b.project_id, b.backtest_id
FROM backtests AS b
LEFT JOIN backtest_sync AS s USING (backtest_id)
WHERE b.completed AND (s.statistics_synced_at IS NULL OR s.performance_synced_at IS NULL)
ORDER BY b.project_id, b.created_at, b.backtest_id;

-- name: delete_backtest_statistics
DELETE FROM backtest_statistics
WHERE backtest_id IN (SELECT backtest_id FROM staged_backtests);

-- name: insert_backtest_statistics
INSERT INTO backtest_statistics BY NAME SELECT * FROM staged;

-- name: update_statistics_synced
UPDATE backtest_sync SET statistics_synced_at = now(), performance_synced_at = now()
WHERE backtest_id IN (SELECT backtest_id FROM staged_backtests);

-- name: insert_statistics_synced
INSERT INTO backtest_sync (backtest_id, project_id, statistics_synced_at, performance_synced_at)
SELECT backtest_id, project_id, now(), now() FROM staged_backtests
WHERE backtest_id NOT IN (SELECT backtest_id FROM backtest_sync);

-- name: backtests_by_status
SELECT status, count(*) AS backtests FROM backtests GROUP BY status ORDER BY backtests DESC, status;
