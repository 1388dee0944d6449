-- The top 10 finished backtests by Sharpe ratio, with their fill counts and drawdown: which
-- parameter sets are worth a closer look?
SELECT
    p.name AS project,
    b.name AS backtest,
    b.sharpe_ratio,
    b.net_profit_pct,
    b.drawdown_pct,
    b.fills,
    b.total_orders
FROM backtest_summary b
JOIN projects p USING (project_id)
WHERE b.sharpe_ratio IS NOT NULL
ORDER BY b.sharpe_ratio DESC
LIMIT 10;
