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
    orders_complete BOOLEAN,
    -- the closed trades and numeric performance of the same read were loaded with the statistics
    performance_synced_at TIMESTAMPTZ
);
-- A warehouse from before closed trades and performance: each finished backtest is read once more.
ALTER TABLE backtest_sync ADD COLUMN IF NOT EXISTS performance_synced_at TIMESTAMPTZ;

-- One row per run of a sync step (projects, backtests, backtest_statistics, orders).
CREATE TABLE IF NOT EXISTS sync_runs (
    step VARCHAR NOT NULL,
    started_at TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ NOT NULL,
    outcome VARCHAR NOT NULL,  -- 'succeeded' or 'failed'
    detail VARCHAR  -- what failed, when it did
);
