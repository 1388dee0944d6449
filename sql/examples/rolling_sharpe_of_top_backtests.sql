-- The 3- and 12-month rolling Sharpe ratios of the five backtests with the best overall
-- Sharpe ratio, window by window (LEAN's rolling windows end at each month end).
WITH top AS (
    SELECT backtest_id, value AS sharpe_ratio
    FROM backtest_performance
    WHERE source = 'portfolio' AND statistic = 'sharpeRatio' AND value IS NOT NULL
    ORDER BY value DESC, backtest_id
    LIMIT 5
)
SELECT
    b.name AS backtest,
    round(top.sharpe_ratio, 3) AS overall_sharpe,
    r.period_end,
    round(max(r.value) FILTER (WHERE r.window_months = 3), 3) AS sharpe_3_months,
    round(max(r.value) FILTER (WHERE r.window_months = 12), 3) AS sharpe_12_months
FROM backtest_rolling_statistics AS r
JOIN top USING (backtest_id)
JOIN backtests AS b USING (backtest_id)
WHERE r.source = 'portfolio' AND r.statistic = 'sharpeRatio' AND r.window_months IN (3, 12)
GROUP BY b.name, top.sharpe_ratio, r.period_end
ORDER BY overall_sharpe DESC, backtest, r.period_end;
