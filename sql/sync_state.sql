-- The sync's own state, kept in the warehouse beside the data it describes.
-- One row per backtest whose statistics or orders have been loaded.
CREATE TABLE IF NOT EXISTS backtest_sync (
    backtest_id VARCHAR PRIMARY KEY,
    project_id BIGINT NOT NULL,
    -- backtests/read returned final statistics (a map, not the `[]` of a running backtest)
    statistics_synced_at TIMESTAMPTZ,
    -- the orders and their events were replaced, in one transaction
    orders_synced_at TIMESTAMPTZ,
    orders_loaded BIGINT,
    order_events_loaded BIGINT,
    -- the "Total Orders" statistic, when the backtest has one
    orders_expected BIGINT,
    -- false when the fetched count disagreed with `length` or "Total Orders": fetched again next run
    orders_complete BOOLEAN
);
