-- Named queries the demo prints after its sync, after the rows per table (pipelines/demo.py).

-- name: top_backtests
-- The five best finished backtests by Sharpe ratio, with their order and fill counts.
SELECT
    p.name AS project,
    b.name AS backtest,
    s.value AS sharpe_ratio,
    count(DISTINCT o.order_id) AS orders,
    count(e.order_event_id) FILTER (WHERE e.status = 'Filled') AS fills
FROM backtests AS b
JOIN projects AS p USING (project_id)
JOIN backtest_statistics AS s ON s.backtest_id = b.backtest_id AND s.statistic = 'Sharpe Ratio'
LEFT JOIN orders AS o ON o.backtest_id = b.backtest_id
LEFT JOIN order_events AS e ON e.backtest_id = o.backtest_id AND e.order_id = o.order_id
GROUP BY ALL
ORDER BY sharpe_ratio DESC NULLS LAST
LIMIT 5;
