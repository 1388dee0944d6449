-- The projects group's statements (pipelines/sync/steps/projects.py). A statement that reads
-- an Arrow table reads it under the name it is given (`staged`).

-- name: delete_known_projects
-- With `insert_projects`, in one transaction: replace known projects, add new ones. A delete
-- and an insert rather than an upsert clause, so that storage without unique constraints
-- (DuckLake) runs the same statements. A listed project's `deleted_upstream_at` is NULL again:
-- one listed after it was found gone revives.
DELETE FROM projects WHERE project_id IN (SELECT project_id FROM staged);

-- name: insert_projects
INSERT INTO projects BY NAME SELECT * FROM staged;

-- name: mark_unlisted_projects
-- In the transaction that replaces the listed projects (`staged`, every project
-- `projects/read` sent): a project it no longer holds was deleted upstream. The warehouse is
-- the archive: the project keeps its row, stamped with when the sync found it gone (an
-- earlier stamp is kept), and is never listed again (`project_ids`).
UPDATE projects SET deleted_upstream_at = now()
WHERE deleted_upstream_at IS NULL
  AND project_id NOT IN (SELECT project_id FROM staged WHERE project_id IS NOT NULL);

-- name: mark_backtests_of_unlisted_projects
-- A project's deletion takes its backtests with it: those not gone already get the same stamp
-- (`now()` is the transaction's start). All their rows stay; none is fetched again.
UPDATE backtests SET deleted_upstream_at = now()
WHERE deleted_upstream_at IS NULL
  AND project_id NOT IN (SELECT project_id FROM staged WHERE project_id IS NOT NULL);

-- name: mark_optimizations_of_unlisted_projects
-- And its optimizations.
UPDATE optimizations SET deleted_upstream_at = now()
WHERE deleted_upstream_at IS NULL
  AND project_id NOT IN (SELECT project_id FROM staged WHERE project_id IS NOT NULL);

-- name: project_ids
-- The projects whose backtests and optimizations are listed: those not deleted upstream.
SELECT project_id FROM projects WHERE deleted_upstream_at IS NULL ORDER BY project_id;
