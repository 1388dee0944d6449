-- The ten losing trades held longest: what was held, which way, for how long, and what it
-- cost (profit and loss, worst excursion; account currency).
SELECT
    p.name AS project,
    b.name AS backtest,
    t.symbol,
    t.direction,
    t.entry_time,
    t.exit_time,
    t.duration,
    round(t.profit_loss, 2) AS profit_loss,
    round(t.mae, 2) AS mae,
    t.order_ids
FROM closed_trades AS t
JOIN backtests AS b USING (backtest_id)
JOIN projects AS p ON p.project_id = t.project_id
WHERE NOT t.is_win
ORDER BY t.duration DESC, t.profit_loss
LIMIT 10;
