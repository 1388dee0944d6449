-- `qcw plot fills` (pipelines/plots/): fills by hour of day (UTC) and order type, from the
-- view fills (one row per order event that filled something).

-- name: backtest
-- The backtest $id, when the warehouse holds it: its name.
SELECT name FROM backtests WHERE backtest_id = $id;

-- name: fills_by_hour
-- Fills per hour of day (UTC, 0-23) and order type, of the backtest $id (NULL: every one).
SELECT
    hour(event_time AT TIME ZONE 'UTC') AS hour,
    coalesce(order_type, 'unknown') AS order_type,
    count(*) AS fills
FROM fills
WHERE ($id IS NULL OR backtest_id = $id) AND event_time IS NOT NULL
GROUP BY ALL
ORDER BY ALL;
