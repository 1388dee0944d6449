-- Backtests where many orders were canceled or rejected as invalid, worst first: a sign of
-- limit prices too far away or of orders the brokerage model refuses.
SELECT
    p.name AS project,
    b.name AS backtest,
    b.filled_orders,
    b.canceled_orders,
    b.invalid_orders,
    round(
        (b.canceled_orders + b.invalid_orders) * 100.0
        / nullif(b.filled_orders + b.canceled_orders + b.invalid_orders, 0),
        1
    ) AS not_filled_pct
FROM backtest_summary b
JOIN projects p USING (project_id)
WHERE b.filled_orders IS NOT NULL
ORDER BY not_filled_pct DESC NULLS LAST
LIMIT 10;
