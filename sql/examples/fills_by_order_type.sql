-- Fills by order type: how the strategies trade, and how often each order type fills at all.
WITH per_order AS (
    SELECT o.order_type, o.backtest_id, o.order_id, count(f.order_event_id) AS fills
    FROM orders o
    LEFT JOIN fills f USING (backtest_id, order_id)
    GROUP BY ALL
)
SELECT
    order_type,
    count(*) AS orders,
    sum(fills) AS fills,
    count(*) FILTER (WHERE fills > 0) AS orders_filled,
    round(count(*) FILTER (WHERE fills > 0) * 100.0 / count(*), 1) AS filled_pct
FROM per_order
GROUP BY order_type
ORDER BY orders DESC;
