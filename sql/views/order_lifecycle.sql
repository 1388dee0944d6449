-- One row per order: when it was created and filled, how many events it had, how it ended.
CREATE OR REPLACE VIEW order_lifecycle AS
WITH order_fills AS (
    SELECT
        backtest_id,
        order_id,
        min(f.event_time) AS first_fill_time,
        max(f.event_time) AS last_fill_time,
        sum(f.fill_quantity) AS filled_quantity
    FROM fills AS f
    JOIN orders AS o USING (backtest_id, order_id)
    WHERE coalesce(f.symbol_id = o.symbol_id, f.symbol = o.symbol)  -- its own security only
    GROUP BY backtest_id, order_id
), order_event_counts AS (
    SELECT backtest_id, order_id, count(*) AS event_count
    FROM order_events
    GROUP BY backtest_id, order_id
)
SELECT
    o.project_id,
    o.backtest_id,
    o.order_id,
    o.symbol,
    o.direction,
    o.created_time,
    f.first_fill_time,
    f.last_fill_time,
    f.first_fill_time - o.created_time AS time_to_first_fill,  -- an INTERVAL; NULL if unfilled
    coalesce(c.event_count, 0) AS event_count,
    o.status AS final_status,
    -- The sum of the fills of the order's own security, signed, in its units: an option
    -- exercise's delivery of the underlying is not added to its contracts.
    coalesce(f.filled_quantity, 0) AS filled_quantity
FROM orders o
LEFT JOIN order_fills f ON f.backtest_id = o.backtest_id AND f.order_id = o.order_id
LEFT JOIN order_event_counts c ON c.backtest_id = o.backtest_id AND c.order_id = o.order_id;
