-- The backtests group's statements (pipelines/sync/steps/backtests.py and statistics.py). A
-- statement that reads an Arrow table reads it under the name it is given: `staged` for rows,
-- `staged_backtests` for the backtests (project_id, backtest_id) they belong to,
-- `staged_listed` for what `backtests/list` listed.

-- name: delete_known_backtests
-- With `insert_backtests`, in one transaction: replace known backtests (their status moves
-- on), add new ones. A listed backtest's `deleted_upstream_at` is NULL again: one listed
-- after it was found gone revives (its loaded results stay loaded, `backtest_sync`).
DELETE FROM backtests WHERE backtest_id IN (SELECT backtest_id FROM staged);

-- name: insert_backtests
INSERT INTO backtests BY NAME SELECT * FROM staged;

-- name: mark_unlisted_backtests
-- In the same transaction: a backtest of a listed project that the list no longer holds was
-- deleted upstream. The warehouse is the archive: it keeps the backtest and all its rows,
-- stamped with when the sync found it gone (an earlier stamp is kept), and never fetches it
-- again. `staged_listed` holds (project_id, NULL) for each listed project and
-- (project_id, backtest_id) for each listed backtest.
UPDATE backtests SET deleted_upstream_at = now()
WHERE deleted_upstream_at IS NULL
  AND project_id IN (SELECT project_id FROM staged_listed)
  AND backtest_id NOT IN (
      SELECT backtest_id FROM staged_listed WHERE backtest_id IS NOT NULL
  );

-- name: live_backtest_ids
-- The backtests not deleted upstream, by project: what a `backtests/list` should list again.
SELECT project_id, backtest_id FROM backtests WHERE deleted_upstream_at IS NULL;

-- name: backtests_needing_statistics
-- Finished backtests whose final results are not loaded yet: their statistics, or (loaded
-- before there were such tables) their closed trades and performance. `completed` is the
-- sync's one rule for "finished" (`pipelines.schema.backtests.is_backtest_finished`). A
-- backtest deleted upstream is never read again.
SELECT b.project_id, b.backtest_id
FROM backtests AS b
LEFT JOIN backtest_sync AS s USING (backtest_id)
WHERE b.completed
  AND b.deleted_upstream_at IS NULL
  AND (s.statistics_synced_at IS NULL OR s.performance_synced_at IS NULL)
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
