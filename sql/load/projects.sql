-- The projects group's statements (pipelines/sync/steps/projects.py). A statement that reads
-- an Arrow table reads it under the name it is given (`staged`).

-- name: delete_known_projects
-- With `insert_projects`, in one transaction: replace known projects, add new ones. A delete
-- and an insert rather than an upsert clause, so that storage without unique constraints
-- (DuckLake) runs the same statements.
DELETE FROM projects WHERE project_id IN (SELECT project_id FROM staged);

-- name: insert_projects
INSERT INTO projects BY NAME SELECT * FROM staged;

-- name: project_ids
SELECT project_id FROM projects ORDER BY project_id;
