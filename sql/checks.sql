-- Named queries behind the asset checks (assets/). Each returns one row of numbers;
-- a check passes when `failures` is 0.

-- name: duplicate_keys
-- Rows beyond the first of each key: {table} and {key} are filled in from the table's
-- definition in pipelines/schema/, so every table's key is checked the same way.
SELECT count(*) - count(DISTINCT ({key})) AS failures FROM {table};

-- name: order_events_without_order
SELECT count(*) AS failures
FROM order_events AS e
ANTI JOIN orders AS o USING (backtest_id, order_id);

-- name: orders_differing_from_total_orders
-- Backtests whose loaded order count differs from their "Total Orders" statistic.
WITH expected AS (
    SELECT backtest_id, CAST(max(value) AS BIGINT) AS total_orders
    FROM backtest_statistics
    WHERE statistic IN ('Total Orders', 'Total Trades') AND value IS NOT NULL
    GROUP BY backtest_id
),
loaded AS (
    SELECT backtest_id, count(*) AS orders FROM orders GROUP BY backtest_id
)
SELECT
    count(*) AS failures,
    coalesce(list(e.backtest_id ORDER BY e.backtest_id)[1:10], []) AS examples
FROM expected AS e
JOIN backtest_sync AS s USING (backtest_id)
LEFT JOIN loaded AS l USING (backtest_id)
WHERE s.orders_synced_at IS NOT NULL AND coalesce(l.orders, 0) <> e.total_orders;
