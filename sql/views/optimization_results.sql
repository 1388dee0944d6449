-- One row per backtest of an optimization: its parameter set, its headline statistics as the
-- optimization reports them (percentages as numbers: 17.8 is 17.8 %), the optimization's
-- target statistic, and its rank by that target in the direction of the optimization's
-- extremum (1 is best). Backtests that failed (a non-zero exit code) or lack the target are
-- not ranked. `deleted_upstream_at` is when a sync found the optimization (or its project)
-- gone upstream, NULL while listed: the warehouse keeps its rows.
CREATE OR REPLACE VIEW optimization_results AS
WITH statistics AS (
    SELECT
        optimization_id,
        backtest_id,
        map_from_entries(list((statistic, value))) AS by_name
    FROM optimization_backtest_statistics
    GROUP BY optimization_id, backtest_id
), targets AS (
    -- "TotalPerformance.PortfolioStatistics.SharpeRatio" → LEAN's statistic "Sharpe Ratio".
    SELECT
        optimization_id,
        CASE regexp_extract(target, '[^.]+$')
            WHEN 'TotalNetProfit' THEN 'Net Profit'
            WHEN 'TotalNumberOfTrades' THEN 'Total Orders'
            ELSE regexp_replace(regexp_extract(target, '[^.]+$'), '([a-z])([A-Z])', '\1 \2', 'g')
        END AS target_statistic
    FROM optimizations
), results AS (
    SELECT
        o.project_id,
        ob.optimization_id,
        o.name AS optimization,
        o.status AS optimization_status,
        ob.backtest_id,
        ob.name AS backtest,
        ob.exit_code,
        ob.parameter_set,
        s.by_name['Sharpe Ratio'] AS sharpe_ratio,
        s.by_name['Net Profit'] AS net_profit_pct,
        s.by_name['Drawdown'] AS drawdown_pct,
        s.by_name['Probabilistic Sharpe Ratio'] AS psr_pct,
        CAST(s.by_name['Total Orders'] AS BIGINT) AS total_orders,
        s.by_name['Compounding Annual Return'] AS compounding_annual_return_pct,
        o.target,
        t.target_statistic,
        lower(o.extremum) AS extremum,
        s.by_name[t.target_statistic] AS target_value,
        o.deleted_upstream_at
    FROM optimization_backtests AS ob
    JOIN optimizations AS o USING (optimization_id)
    JOIN targets AS t USING (optimization_id)
    LEFT JOIN statistics AS s USING (optimization_id, backtest_id)
)
SELECT
    * EXCLUDE (deleted_upstream_at),
    CASE WHEN coalesce(exit_code, 0) = 0 AND target_value IS NOT NULL THEN
        rank() OVER (
            PARTITION BY optimization_id, coalesce(exit_code, 0) = 0 AND target_value IS NOT NULL
            ORDER BY CASE WHEN extremum = 'min' THEN target_value ELSE -target_value END
        )
    END AS rank,
    deleted_upstream_at
FROM results;
