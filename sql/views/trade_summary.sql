-- Per backtest with closed trades: the trades, computed from `closed_trades`, beside LEAN's own
-- trade statistics from `backtest_performance` (source 'trade'). `reconciles` says whether they
-- agree (counts exactly; rates, averages and the profit factor within rounding); `differences`
-- names what does not. Money is in the account currency; durations are INTERVALs. As LEAN
-- counts them (Lean `TradeStatistics`), a trade with profit is a winner, and so is one that
-- `is_win` without it (an option exercised in the money); the profit factor is the profits
-- over the losses.
CREATE OR REPLACE VIEW trade_summary AS
WITH trades AS (
    SELECT
        project_id,
        backtest_id,
        count(*) AS trades,
        count(*) FILTER (WHERE profit_loss > 0 OR coalesce(is_win, false)) AS winning_trades,
        count(*) FILTER (WHERE NOT (profit_loss > 0 OR coalesce(is_win, false))) AS losing_trades,
        count(*) FILTER (WHERE profit_loss > 0 OR coalesce(is_win, false)) / count(*) AS win_rate,
        sum(profit_loss) AS total_profit_loss,
        avg(profit_loss) AS average_profit_loss,
        sum(profit_loss) FILTER (WHERE profit_loss > 0) AS gross_profit,
        sum(profit_loss) FILTER (WHERE profit_loss < 0) AS gross_loss,
        sum(total_fees) AS total_fees,
        avg(mae) AS average_mae,
        avg(mfe) AS average_mfe,
        avg(duration) AS average_duration,
        max(duration) AS longest_duration
    FROM closed_trades
    GROUP BY project_id, backtest_id
), lean AS (
    SELECT
        backtest_id,
        max(value) FILTER (WHERE statistic = 'totalNumberOfTrades') AS lean_trades,
        max(value) FILTER (WHERE statistic = 'winRate') AS lean_win_rate,
        max(value) FILTER (WHERE statistic = 'averageProfitLoss') AS lean_average_profit_loss,
        max(value) FILTER (WHERE statistic = 'profitFactor') AS lean_profit_factor,
        max(value) FILTER (WHERE statistic = 'averageMAE') AS lean_average_mae,
        max(value) FILTER (WHERE statistic = 'averageMFE') AS lean_average_mfe,
        max(value_interval) FILTER (WHERE statistic = 'averageTradeDuration')
            AS lean_average_duration
    FROM backtest_performance
    WHERE source = 'trade'
    GROUP BY backtest_id
), compared AS (
    SELECT
        t.*,
        coalesce(t.gross_profit, 0) / nullif(abs(t.gross_loss), 0) AS profit_factor,
        l.* EXCLUDE (backtest_id)
    FROM trades AS t
    LEFT JOIN lean AS l USING (backtest_id)
)
SELECT
    *,
    list_filter(
        [
            CASE WHEN lean_trades IS DISTINCT FROM trades THEN 'trades' END,
            CASE WHEN abs(win_rate - lean_win_rate) > 0.0001 THEN 'win_rate' END,
            CASE WHEN abs(average_profit_loss - lean_average_profit_loss)
                > 0.01 + 1e-6 * abs(lean_average_profit_loss) THEN 'average_profit_loss' END,
            CASE WHEN abs(coalesce(profit_factor, 0) - lean_profit_factor)
                > 0.0001 + 1e-6 * abs(lean_profit_factor) THEN 'profit_factor' END,
            CASE WHEN abs(average_mae - lean_average_mae)
                > 0.01 + 1e-6 * abs(lean_average_mae) THEN 'average_mae' END,
            CASE WHEN abs(average_mfe - lean_average_mfe)
                > 0.01 + 1e-6 * abs(lean_average_mfe) THEN 'average_mfe' END,
            CASE WHEN abs(epoch(average_duration) - epoch(lean_average_duration)) > 1
                THEN 'average_duration' END
        ],
        lambda name: name IS NOT NULL
    ) AS differences,
    lean_trades IS NOT NULL AND len(differences) = 0 AS reconciles
FROM compared;
