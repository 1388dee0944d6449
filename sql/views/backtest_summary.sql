-- Per backtest: what it is, its orders by final status, its fills, and its headline
-- statistics parsed from their formatted text (a missing statistic is NULL). Order and fill
-- counts, notional and fees are NULL while its orders are not loaded. Notional and fees are
-- maps from currency to amount (`notional['USD']`): amounts in different currencies are never
-- added. `deleted_upstream_at` is when a sync found the backtest (or else its project) gone
-- upstream, NULL while listed: the warehouse keeps its rows.
CREATE OR REPLACE VIEW backtest_summary AS
WITH order_counts AS (
    SELECT
        backtest_id,
        count(*) FILTER (WHERE status = 'Filled') AS filled_orders,
        count(*) FILTER (WHERE status = 'Canceled') AS canceled_orders,
        count(*) FILTER (WHERE status = 'Invalid') AS invalid_orders
    FROM orders
    GROUP BY backtest_id
), fill_counts AS (
    SELECT
        backtest_id,
        count(*) AS fills,
        count(*) FILTER (WHERE NOT symbol_properties_found) AS fills_without_symbol_properties
    FROM fills
    GROUP BY backtest_id
), notional AS (
    SELECT backtest_id, map_from_entries(list((currency, amount) ORDER BY currency)) AS amounts
    FROM (SELECT backtest_id, currency, sum(notional) AS amount FROM fills GROUP BY ALL)
    GROUP BY backtest_id
), fees AS (
    SELECT backtest_id, map_from_entries(list((currency, amount) ORDER BY currency)) AS amounts
    FROM (
        SELECT backtest_id, fee_currency AS currency, sum(fee) AS amount
        FROM fills
        WHERE fee_currency IS NOT NULL
        GROUP BY ALL
    )
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
        max(value) FILTER (WHERE statistic = 'Win Rate') AS win_rate_pct,
        max(value_text) FILTER (WHERE statistic = 'Total Fees') AS total_fees_statistic
    FROM backtest_statistics
    GROUP BY backtest_id
)
SELECT
    b.project_id,
    b.backtest_id,
    b.name,
    b.status,
    b.created_at,
    CASE WHEN loaded THEN coalesce(o.filled_orders, 0) END AS filled_orders,
    CASE WHEN loaded THEN coalesce(o.canceled_orders, 0) END AS canceled_orders,
    CASE WHEN loaded THEN coalesce(o.invalid_orders, 0) END AS invalid_orders,
    CASE WHEN loaded THEN coalesce(f.fills, 0) END AS fills,
    CASE WHEN loaded THEN coalesce(f.fills_without_symbol_properties, 0) END
        AS fills_without_symbol_properties,
    CASE WHEN loaded THEN coalesce(n.amounts, MAP {}) END AS notional,
    CASE WHEN loaded THEN coalesce(c.amounts, MAP {}) END AS fees,
    s.total_fees_statistic,  -- in the account's currency, as LEAN formats it
    s.sharpe_ratio,
    s.net_profit_pct,
    s.drawdown_pct,
    s.total_orders,
    s.win_rate_pct,
    b.deleted_upstream_at
FROM (
    SELECT
        b.* EXCLUDE (deleted_upstream_at),
        coalesce(sync.orders_synced_at IS NOT NULL, false) AS loaded,
        coalesce(b.deleted_upstream_at, p.deleted_upstream_at) AS deleted_upstream_at
    FROM backtests AS b
    LEFT JOIN backtest_sync AS sync USING (backtest_id)
    LEFT JOIN projects AS p ON p.project_id = b.project_id
) AS b
LEFT JOIN order_counts AS o ON o.backtest_id = b.backtest_id
LEFT JOIN fill_counts AS f ON f.backtest_id = b.backtest_id
LEFT JOIN notional AS n ON n.backtest_id = b.backtest_id
LEFT JOIN fees AS c ON c.backtest_id = b.backtest_id
LEFT JOIN headline_statistics AS s ON s.backtest_id = b.backtest_id;
