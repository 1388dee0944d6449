-- The best parameter set of each optimization, by the optimization's own target and
-- direction (max or min), with its headline statistics (percentages as numbers).
SELECT
    optimization,
    optimization_status,
    target_statistic,
    extremum,
    target_value,
    parameter_set,
    backtest,
    sharpe_ratio,
    net_profit_pct,
    drawdown_pct,
    total_orders
FROM optimization_results
WHERE rank = 1
ORDER BY optimization, backtest;
