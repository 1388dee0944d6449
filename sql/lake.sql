-- Statements of a DuckLake warehouse only (pipelines/warehouse/lake_warehouse.py).

-- name: recent_snapshots
-- The latest snapshots, newest first: each is one committed transaction, signed with the run
-- that made it (author) and what it wrote (commit_message).
SELECT snapshot_id, snapshot_time, author, commit_message
FROM lake.snapshots()
ORDER BY snapshot_id DESC
LIMIT ?;
