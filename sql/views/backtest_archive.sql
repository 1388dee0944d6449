-- Per backtest: whether the warehouse holds its whole record, so that deleting it upstream
-- (`qcw prune backtests`) loses nothing, and what is missing when it does not. The whole
-- record is its row, its final statistics, its closed trades and performance, its orders
-- reconciled against the count the API and "Total Orders" gave, their events, and its closed
-- trades reconciled against its trade statistics' total.
CREATE OR REPLACE VIEW backtest_archive AS
WITH orders_held AS (
    SELECT backtest_id, count(*) AS orders FROM orders GROUP BY backtest_id
), events_held AS (
    SELECT backtest_id, count(*) AS events FROM order_events GROUP BY backtest_id
), trades_held AS (
    SELECT backtest_id, count(*) AS trades FROM closed_trades GROUP BY backtest_id
), trades_expected AS (
    SELECT backtest_id, CAST(max(value) AS BIGINT) AS trades
    FROM backtest_performance
    WHERE source = 'trade' AND statistic = 'totalNumberOfTrades'
    GROUP BY backtest_id
), checked AS (
    SELECT
        b.project_id,
        b.backtest_id,
        b.name,
        b.deleted_upstream_at,
        list_filter([
            CASE WHEN NOT coalesce(b.completed, false) THEN 'not finished' END,
            CASE WHEN s.statistics_synced_at IS NULL THEN 'statistics not loaded' END,
            CASE WHEN s.performance_synced_at IS NULL
                THEN 'closed trades and performance not loaded' END,
            CASE
                WHEN s.orders_synced_at IS NULL THEN 'orders not loaded'
                WHEN NOT s.orders_complete OR coalesce(o.orders, 0) <> s.orders_loaded
                    THEN format('orders incomplete: {} of {}', coalesce(o.orders, 0),
                        coalesce(s.orders_expected, s.orders_loaded))
            END,
            CASE WHEN s.orders_synced_at IS NOT NULL
                AND coalesce(e.events, 0) <> s.order_events_loaded
                THEN format('order events incomplete: {} of {}', coalesce(e.events, 0),
                    s.order_events_loaded) END,
            CASE WHEN coalesce(t.trades, 0) <> x.trades
                THEN format('closed trades incomplete: {} of {}', coalesce(t.trades, 0), x.trades)
            END
        ], lambda problem: problem IS NOT NULL) AS problems
    FROM backtests AS b
    LEFT JOIN backtest_sync AS s USING (backtest_id)
    LEFT JOIN orders_held AS o USING (backtest_id)
    LEFT JOIN events_held AS e USING (backtest_id)
    LEFT JOIN trades_held AS t USING (backtest_id)
    LEFT JOIN trades_expected AS x USING (backtest_id)
)
SELECT
    project_id,
    backtest_id,
    name,
    len(problems) = 0 AS archived,
    nullif(array_to_string(problems, '; '), '') AS missing,
    deleted_upstream_at
FROM checked;
