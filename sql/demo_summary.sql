-- Named queries the demo prints after its sync (pipelines/demo.py).

-- name: top_backtests
-- The five best finished backtests by Sharpe ratio: their orders that filled, and their fills
-- (an order can fill in several parts).
SELECT
    s.name AS backtest,
    s.sharpe_ratio AS sharpe,
    s.net_profit_pct AS "net profit %",
    s.drawdown_pct AS "drawdown %",
    s.filled_orders AS "filled orders",
    s.fills
FROM backtest_summary AS s
WHERE s.sharpe_ratio IS NOT NULL
ORDER BY s.sharpe_ratio DESC
LIMIT 5;
