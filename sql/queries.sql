-- Named statements used by pipelines/warehouse.py. Each starts with a `-- name:` line.
-- A statement that reads an Arrow table reads it under one of the names `staged`,
-- `staged_events`, `staged_loads` or `staged_backtests` (`warehouse.execute_with`).

-- name: upsert_projects
INSERT OR REPLACE INTO projects BY NAME SELECT * FROM staged;

-- name: upsert_backtests
INSERT OR REPLACE INTO backtests BY NAME SELECT * FROM staged;

-- name: delete_backtest_statistics
-- `staged_backtests` lists the backtests whose statistics are being replaced.
DELETE FROM backtest_statistics
WHERE backtest_id IN (SELECT backtest_id FROM staged_backtests);

-- name: insert_backtest_statistics
INSERT INTO backtest_statistics BY NAME SELECT * FROM staged;

-- name: mark_statistics_synced
INSERT INTO backtest_sync BY NAME
SELECT backtest_id, project_id, now() AS statistics_synced_at FROM staged_backtests
ON CONFLICT (backtest_id) DO UPDATE SET statistics_synced_at = excluded.statistics_synced_at;

-- name: delete_loaded_orders
-- `staged_loads` lists the backtests being replaced.
DELETE FROM orders WHERE backtest_id IN (SELECT backtest_id FROM staged_loads);

-- name: delete_loaded_order_events
DELETE FROM order_events WHERE backtest_id IN (SELECT backtest_id FROM staged_loads);

-- name: insert_orders
INSERT INTO orders BY NAME SELECT * FROM staged;

-- name: insert_order_events
INSERT INTO order_events BY NAME SELECT * FROM staged_events;

-- name: create_parts_tables
-- Scratch tables for the parts of a very large backtest, kept on disk until its last part
-- arrives. Made afresh by every sync, which also clears what a killed sync left behind.
CREATE OR REPLACE TABLE orders_parts AS SELECT * FROM orders LIMIT 0;
CREATE OR REPLACE TABLE order_events_parts AS SELECT * FROM order_events LIMIT 0;

-- name: append_orders_part
INSERT INTO orders_parts BY NAME SELECT * FROM staged;

-- name: append_order_events_part
INSERT INTO order_events_parts BY NAME SELECT * FROM staged_events;

-- name: insert_loaded_orders_parts
INSERT INTO orders BY NAME
SELECT * FROM orders_parts WHERE backtest_id IN (SELECT backtest_id FROM staged_loads);

-- name: insert_loaded_order_events_parts
INSERT INTO order_events BY NAME
SELECT * FROM order_events_parts WHERE backtest_id IN (SELECT backtest_id FROM staged_loads);

-- name: discard_orders_parts
DELETE FROM orders_parts WHERE backtest_id IN (SELECT backtest_id FROM staged_loads);

-- name: discard_order_events_parts
DELETE FROM order_events_parts WHERE backtest_id IN (SELECT backtest_id FROM staged_loads);

-- name: drop_parts_tables
DROP TABLE IF EXISTS orders_parts;
DROP TABLE IF EXISTS order_events_parts;

-- name: mark_orders_synced
INSERT INTO backtest_sync BY NAME
SELECT *, now() AS orders_synced_at FROM staged_loads
ON CONFLICT (backtest_id) DO UPDATE SET
    orders_synced_at = excluded.orders_synced_at,
    orders_loaded = excluded.orders_loaded,
    order_events_loaded = excluded.order_events_loaded,
    orders_expected = excluded.orders_expected,
    orders_complete = excluded.orders_complete;

-- name: project_ids
SELECT project_id FROM projects ORDER BY project_id;

-- name: backtests_needing_statistics
-- Finished backtests whose final statistics are not loaded yet.
SELECT b.project_id, b.backtest_id
FROM backtests AS b
LEFT JOIN backtest_sync AS s USING (backtest_id)
WHERE b.completed AND s.statistics_synced_at IS NULL
ORDER BY b.project_id, b.created_at, b.backtest_id;

-- name: backtests_needing_orders
-- Finished backtests with final statistics whose orders are not loaded, or were incomplete.
-- "Total Orders" was called "Total Trades" before 2024-03 (reference §5).
SELECT
    b.project_id,
    b.backtest_id,
    s.orders_synced_at IS NOT NULL AS reload,
    (
        SELECT CAST(max(st.value) AS BIGINT)
        FROM backtest_statistics AS st
        WHERE st.backtest_id = b.backtest_id AND st.statistic IN ('Total Orders', 'Total Trades')
    ) AS expected_total
FROM backtests AS b
JOIN backtest_sync AS s USING (backtest_id)
WHERE b.completed
  AND s.statistics_synced_at IS NOT NULL
  AND (s.orders_synced_at IS NULL OR NOT s.orders_complete)
ORDER BY b.project_id, b.created_at, b.backtest_id;

-- name: backtest_counts
-- How many backtests are finished, and how many of those have their orders loaded.
SELECT
    count(*) AS backtests,
    count(*) FILTER (WHERE b.completed) AS finished,
    count(*) FILTER (WHERE s.orders_synced_at IS NOT NULL AND s.orders_complete) AS orders_loaded
FROM backtests AS b
LEFT JOIN backtest_sync AS s USING (backtest_id);

-- name: table_row_counts
SELECT 'projects' AS table_name, count(*) AS row_count FROM projects
UNION ALL SELECT 'backtests', count(*) FROM backtests
UNION ALL SELECT 'backtest_statistics', count(*) FROM backtest_statistics
UNION ALL SELECT 'orders', count(*) FROM orders
UNION ALL SELECT 'order_events', count(*) FROM order_events;

-- name: record_sync_run
INSERT INTO sync_runs (step, started_at, finished_at, outcome, detail) VALUES (?, ?, ?, ?, ?);

-- name: last_sync_runs
SELECT step, started_at, finished_at, outcome, detail
FROM sync_runs
QUALIFY row_number() OVER (PARTITION BY step ORDER BY started_at DESC) = 1
ORDER BY started_at;

-- name: backtests_by_status
SELECT status, count(*) AS backtests FROM backtests GROUP BY status ORDER BY backtests DESC, status;

-- name: backtests_with_orders_loaded
SELECT backtest_id FROM backtest_sync WHERE orders_synced_at IS NOT NULL AND orders_complete;
