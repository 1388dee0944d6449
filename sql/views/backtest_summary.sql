-- Per backtest: what it is, its orders by final status, its fills, and its headline
-- statistics parsed from their formatted text (a missing statistic is NULL). The order
-- counts are NULL while its orders are not loaded.
CREATE OR REPLACE VIEW backtest_summary AS
WITH order_counts AS (
    SELECT
        backtest_id,
        count(*) FILTER (WHERE status = 'Filled') AS filled_orders,
        count(*) FILTER (WHERE status = 'Canceled') AS canceled_orders,
        count(*) FILTER (WHERE status = 'Invalid') AS invalid_orders
    FROM orders
    GROUP BY backtest_id
), fill_totals AS (
    SELECT backtest_id, count(*) AS fills, sum(notional) AS notional, sum(fee) AS fees
    FROM fills
    GROUP BY backtest_id
), headline_statistics AS (
    SELECT
        backtest_id,
        max(value) FILTER (WHERE statistic = 'Sharpe Ratio') AS sharpe_ratio,
        max(value) FILTER (WHERE statistic = 'Net Profit') AS net_profit_pct,
        max(value) FILTER (WHERE statistic = 'Drawdown') AS drawdown_pct,
        -- "Total Trades" before Lean renamed it, 2024-03 (reference §5)
        CAST(coalesce(
            max(value) FILTER (WHERE statistic = 'Total Orders'),
            max(value) FILTER (WHERE statistic = 'Total Trades')
        ) AS BIGINT) AS total_orders,
        max(value) FILTER (WHERE statistic = 'Win Rate') AS win_rate_pct
    FROM backtest_statistics
    GROUP BY backtest_id
)
SELECT
    b.project_id,
    b.backtest_id,
    b.name,
    b.status,
    b.created_at,
    o.filled_orders,
    o.canceled_orders,
    o.invalid_orders,
    coalesce(f.fills, 0) AS fills,
    coalesce(f.notional, 0) AS total_notional,
    coalesce(f.fees, 0) AS total_fees,
    s.sharpe_ratio,
    s.net_profit_pct,
    s.drawdown_pct,
    s.total_orders,
    s.win_rate_pct
FROM backtests b
LEFT JOIN order_counts o ON o.backtest_id = b.backtest_id
LEFT JOIN fill_totals f ON f.backtest_id = b.backtest_id
LEFT JOIN headline_statistics s ON s.backtest_id = b.backtest_id;
