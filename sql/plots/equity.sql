-- `qcw plot equity` and the closed_trades asset's picture (pipelines/plots/): each backtest's
-- cumulative P&L from its closed trades. `profit_loss` is gross, in the account's currency,
-- which LEAN's "Total Fees" statistic names ($ → USD).

-- name: top_backtests
-- The best $limit backtests by Sharpe ratio among those with closed trades.
SELECT s.backtest_id
FROM backtest_statistics AS s
WHERE s.statistic = 'Sharpe Ratio'
    AND s.value IS NOT NULL
    AND EXISTS (SELECT 1 FROM closed_trades AS t WHERE t.backtest_id = s.backtest_id)
ORDER BY s.value DESC, s.backtest_id
LIMIT $limit;

-- name: backtests
-- The backtests of $ids the warehouse holds: name, project, account currency (NULL when
-- LEAN's statistics do not say) and closed trades.
SELECT
    b.backtest_id,
    b.name,
    p.name AS project,
    any_value(fees.currency) AS currency,
    count(t.trade_id) AS trades
FROM backtests AS b
LEFT JOIN projects AS p ON p.project_id = b.project_id
LEFT JOIN backtest_statistics AS fees
    ON fees.backtest_id = b.backtest_id AND fees.statistic = 'Total Fees'
LEFT JOIN closed_trades AS t ON t.backtest_id = b.backtest_id
WHERE list_contains($ids, b.backtest_id)
GROUP BY ALL;

-- name: trades
-- The closed trades of the backtests of $ids, each backtest's in the order they closed.
SELECT backtest_id, exit_time, profit_loss
FROM closed_trades
WHERE list_contains($ids, backtest_id) AND exit_time IS NOT NULL AND profit_loss IS NOT NULL
ORDER BY backtest_id, exit_time, ordinal;
