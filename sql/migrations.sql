-- What an old warehouse's retired columns hold, carried into the columns that replaced them
-- (pipelines/warehouse/connection.py `ensure_schema`). One statement per retired column, named
-- `<table>__<column>`: it runs, once the new columns are added, on a warehouse whose table
-- still has that column, and commits; the column is then dropped. Each must be idempotent: a
-- crash before the drop runs it again.

-- name: optimizations__deleted_upstream
-- The flag became a time: those flagged get the time of the migration.
UPDATE optimizations SET deleted_upstream_at = now()
WHERE deleted_upstream AND deleted_upstream_at IS NULL;
