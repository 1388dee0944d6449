-- The performance group's statements (pipelines/sync/steps/statistics.py): each backtest's
-- closed trades and numeric performance, replaced in the transaction that replaces its
-- statistics. `staged_backtests` holds the backtests (project_id, backtest_id) replaced.

-- name: delete_closed_trades
DELETE FROM closed_trades WHERE backtest_id IN (SELECT backtest_id FROM staged_backtests);

-- name: insert_closed_trades
INSERT INTO closed_trades BY NAME SELECT * FROM staged_trades;

-- name: delete_backtest_performance
DELETE FROM backtest_performance
WHERE backtest_id IN (SELECT backtest_id FROM staged_backtests);

-- name: insert_backtest_performance
INSERT INTO backtest_performance BY NAME SELECT * FROM staged_performance;

-- name: delete_backtest_rolling_statistics
DELETE FROM backtest_rolling_statistics
WHERE backtest_id IN (SELECT backtest_id FROM staged_backtests);

-- name: insert_backtest_rolling_statistics
INSERT INTO backtest_rolling_statistics BY NAME SELECT * FROM staged_rolling;
