-- How long orders wait for their first fill, by order type: median and 90th percentile, and
-- how many never fill at all.
SELECT
    o.order_type,
    count(*) AS orders,
    count(l.first_fill_time) AS filled,
    count(*) - count(l.first_fill_time) AS never_filled,
    median(l.time_to_first_fill) AS median_wait,
    quantile_disc(l.time_to_first_fill, 0.9) AS p90_wait
FROM order_lifecycle l
JOIN orders o USING (backtest_id, order_id)
GROUP BY o.order_type
ORDER BY orders DESC;
