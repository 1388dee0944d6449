-- The orders group's statements (pipelines/sync/steps/orders.py, through the warehouse's
-- orders writer). A statement that reads an Arrow table reads it under the name it is given:
-- `staged` for orders, `staged_events` for order events, `staged_loads` for the backtests
-- being loaded.

-- name: backtests_needing_orders
-- Finished backtests with final statistics whose orders are not loaded, or were incomplete;
-- never one deleted upstream. "Total Orders" was called "Total Trades" before 2024-03
-- (reference §5).
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
  AND b.deleted_upstream_at IS NULL
  AND s.statistics_synced_at IS NOT NULL
  AND (s.orders_synced_at IS NULL OR NOT s.orders_complete)
ORDER BY b.project_id, b.created_at, b.backtest_id;

-- name: backtest_counts
-- Of the backtests still listed: how many there are, how many are finished, and how many of
-- those have their orders loaded; and how many were deleted upstream (never fetched again).
SELECT
    count(*) FILTER (WHERE b.deleted_upstream_at IS NULL) AS backtests,
    count(*) FILTER (WHERE b.deleted_upstream_at IS NULL AND b.completed) AS finished,
    count(*) FILTER (
        WHERE b.deleted_upstream_at IS NULL AND s.orders_synced_at IS NOT NULL AND s.orders_complete
    ) AS orders_loaded,
    count(*) FILTER (WHERE b.deleted_upstream_at IS NOT NULL) AS deleted_upstream
FROM backtests AS b
LEFT JOIN backtest_sync AS s USING (backtest_id);

-- name: backtests_with_orders_loaded
SELECT backtest_id FROM backtest_sync WHERE orders_synced_at IS NOT NULL AND orders_complete;

-- name: delete_loaded_orders
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

-- name: create_temp_parts_tables
-- The same in a lake, where every writer needs its own: temporary tables of its connection,
-- which DuckDB spills to its temporary folder when they outgrow memory.
CREATE OR REPLACE TEMP TABLE orders_parts AS SELECT * FROM orders LIMIT 0;
CREATE OR REPLACE TEMP TABLE order_events_parts AS SELECT * FROM order_events LIMIT 0;

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

-- name: update_orders_synced
UPDATE backtest_sync SET
    orders_synced_at = now(),
    orders_loaded = l.orders_loaded,
    order_events_loaded = l.order_events_loaded,
    orders_expected = l.orders_expected,
    orders_complete = l.orders_complete
FROM staged_loads AS l
WHERE backtest_sync.backtest_id = l.backtest_id;

-- name: insert_orders_synced
INSERT INTO backtest_sync BY NAME
SELECT *, now() AS orders_synced_at FROM staged_loads
WHERE backtest_id NOT IN (SELECT backtest_id FROM backtest_sync);
