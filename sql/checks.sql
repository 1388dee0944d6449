-- Named queries behind the asset checks (assets/). Each returns one row of numbers;
-- a check passes when `failures` is 0.

-- name: duplicate_keys
-- Rows beyond the first of each key: {table} and {key} are filled in from the table's
-- definition in pipelines/schema/, so every table's key is checked the same way.
SELECT count(*) - count(DISTINCT ({key})) AS failures FROM {table};

-- name: order_events_without_order
SELECT count(*) AS failures
FROM order_events AS e
ANTI JOIN orders AS o USING (backtest_id, order_id);

-- name: orders_differing_from_total_orders
-- Backtests whose loaded order count differs from their "Total Orders" statistic.
WITH expected AS (
    SELECT backtest_id, CAST(max(value) AS BIGINT) AS total_orders
    FROM backtest_statistics
    WHERE statistic IN ('Total Orders', 'Total Trades') AND value IS NOT NULL
    GROUP BY backtest_id
),
loaded AS (
    SELECT backtest_id, count(*) AS orders FROM orders GROUP BY backtest_id
)
SELECT
    count(*) AS failures,
    coalesce(list(e.backtest_id ORDER BY e.backtest_id)[1:10], []) AS examples
FROM expected AS e
JOIN backtest_sync AS s USING (backtest_id)
LEFT JOIN loaded AS l USING (backtest_id)
WHERE s.orders_synced_at IS NOT NULL AND coalesce(l.orders, 0) <> e.total_orders;

-- name: fees_differing_from_total_fees
-- Loaded backtests whose order fees, summed in the account's currency (the currency of the
-- "Total Fees" statistic), differ from that statistic by more than a cent. A fee in another
-- currency converts at the backtest's own latest fill of the currency pair before it (USDJPY
-- for a fee in yen); a backtest with a fee that no such fill converts is counted as not
-- reconciled, not as failing. LEAN converts at its own rates, so small differences can be real.
WITH account AS (
    SELECT backtest_id, value AS total_fees, currency
    FROM backtest_statistics
    WHERE statistic = 'Total Fees' AND value IS NOT NULL AND currency IS NOT NULL
), fees AS (
    SELECT
        e.backtest_id,
        e.event_time,
        e.order_fee_amount AS fee,
        e.order_fee_currency AS fee_currency,
        a.currency AS account_currency
    FROM order_events AS e
    JOIN account AS a USING (backtest_id)
    WHERE coalesce(e.order_fee_amount, 0) <> 0
), pair_fills AS (
    SELECT
        e.backtest_id,
        e.event_time,
        left(e.symbol, 3) AS base,
        right(e.symbol, 3) AS quote,
        e.fill_price
    FROM order_events AS e
    JOIN orders AS o USING (backtest_id, order_id)
    WHERE o.security_type IN ('Forex', 'Cfd') AND length(e.symbol) = 6 AND e.fill_price > 0
        AND e.status IN ('Filled', 'PartiallyFilled') AND e.fill_quantity <> 0
), rates AS (
    -- One unit of `from_currency` in `to_currency`, at each fill of a pair, both ways.
    SELECT backtest_id, event_time, base AS from_currency, quote AS to_currency,
        fill_price AS rate
    FROM pair_fills
    UNION ALL
    SELECT backtest_id, event_time, quote, base, 1 / fill_price FROM pair_fills
), converted AS (
    SELECT
        f.backtest_id,
        CASE WHEN f.fee_currency = f.account_currency THEN f.fee ELSE f.fee * r.rate END
            AS fee_in_account
    FROM fees AS f
    ASOF LEFT JOIN rates AS r
        ON r.backtest_id = f.backtest_id
        AND r.from_currency = f.fee_currency
        AND r.to_currency = f.account_currency
        AND f.event_time >= r.event_time
), per_backtest AS (
    SELECT
        a.backtest_id,
        a.total_fees,
        round(coalesce(sum(c.fee_in_account), 0), 2) AS fees_in_account,
        count(c.backtest_id) FILTER (WHERE c.fee_in_account IS NULL) AS unconverted
    FROM account AS a
    JOIN backtest_sync AS s USING (backtest_id)
    LEFT JOIN converted AS c USING (backtest_id)
    WHERE s.orders_synced_at IS NOT NULL AND s.orders_complete
    GROUP BY a.backtest_id, a.total_fees
)
SELECT
    count(*) FILTER (WHERE unconverted = 0 AND abs(fees_in_account - total_fees) > 0.01)
        AS failures,
    coalesce(list(
        {'backtest_id': backtest_id, 'total_fees': total_fees, 'sum_of_fees': fees_in_account}
        ORDER BY backtest_id
    ) FILTER (WHERE unconverted = 0 AND abs(fees_in_account - total_fees) > 0.01)[1:10], [])
        AS examples,
    count(*) FILTER (WHERE unconverted > 0) AS not_reconciled,
    count(*) FILTER (WHERE unconverted = 0) AS reconciled
FROM per_backtest;

-- name: net_profit_differing_from_equity
-- Backtests whose "Net Profit" (a percentage, LEAN writes it to 3 decimals) is not the change
-- from "Start Equity" to "End Equity", in sign and size. Backtests from before LEAN reported
-- the equities are not checked.
WITH equity AS (
    SELECT
        backtest_id,
        max(value) FILTER (WHERE statistic = 'Net Profit') AS net_profit_pct,
        max(value) FILTER (WHERE statistic = 'Start Equity') AS start_equity,
        max(value) FILTER (WHERE statistic = 'End Equity') AS end_equity
    FROM backtest_statistics
    GROUP BY backtest_id
), compared AS (
    SELECT *, round((end_equity / start_equity - 1) * 100, 3) AS equity_change_pct
    FROM equity
    WHERE start_equity > 0 AND end_equity IS NOT NULL AND net_profit_pct IS NOT NULL
)
SELECT
    count(*) FILTER (WHERE abs(net_profit_pct - equity_change_pct) > 0.0015) AS failures,
    coalesce(list(
        {'backtest_id': backtest_id, 'net_profit_pct': net_profit_pct,
         'equity_change_pct': equity_change_pct}
        ORDER BY backtest_id
    ) FILTER (WHERE abs(net_profit_pct - equity_change_pct) > 0.0015)[1:10], []) AS examples,
    count(*) AS reconciled
FROM compared;

-- name: trade_orders_missing
-- Closed trades naming an order id that the backtest's loaded orders do not hold. Only
-- backtests whose orders are completely loaded are checked.
WITH named AS (
    SELECT t.backtest_id, t.trade_id, unnest(t.order_ids) AS order_id
    FROM closed_trades AS t
    JOIN backtest_sync AS s USING (backtest_id)
    WHERE s.orders_synced_at IS NOT NULL AND s.orders_complete
), missing AS (
    SELECT * FROM named AS n ANTI JOIN orders AS o USING (backtest_id, order_id)
)
SELECT
    count(DISTINCT (backtest_id, trade_id)) AS failures,
    coalesce(list(DISTINCT backtest_id)[1:10], []) AS examples,
    (SELECT count(*) FROM named) AS order_ids_checked
FROM missing;

-- name: trades_differing_from_total_trades
-- Backtests whose loaded closed trades differ in number from their trade statistics'
-- totalNumberOfTrades.
WITH expected AS (
    SELECT backtest_id, CAST(value AS BIGINT) AS total_trades
    FROM backtest_performance
    WHERE source = 'trade' AND statistic = 'totalNumberOfTrades' AND value IS NOT NULL
), loaded AS (
    SELECT backtest_id, count(*) AS trades FROM closed_trades GROUP BY backtest_id
)
SELECT
    count(*) FILTER (WHERE coalesce(l.trades, 0) <> e.total_trades) AS failures,
    coalesce(list(
        {'backtest_id': e.backtest_id, 'total_trades': e.total_trades,
         'loaded': coalesce(l.trades, 0)}
        ORDER BY e.backtest_id
    ) FILTER (WHERE coalesce(l.trades, 0) <> e.total_trades)[1:10], []) AS examples,
    count(*) AS reconciled
FROM expected AS e
LEFT JOIN loaded AS l USING (backtest_id);

-- name: optimization_backtests_differing_from_runtime_statistics
-- Optimizations in a final state whose backtests (with an id) differ in number from the
-- backtests their runtime statistics say ran: Completed + Failed.
WITH loaded AS (
    SELECT optimization_id, count(*) AS backtests
    FROM optimization_backtests
    GROUP BY optimization_id
), compared AS (
    SELECT
        o.optimization_id,
        coalesce(o.backtests_completed, 0) + coalesce(o.backtests_failed, 0) AS ran,
        coalesce(l.backtests, 0) AS loaded
    FROM optimizations AS o
    LEFT JOIN loaded AS l USING (optimization_id)
    WHERE o.status IN ('Completed', 'Aborted') AND o.backtests_total IS NOT NULL
)
SELECT
    count(*) FILTER (WHERE ran <> loaded) AS failures,
    coalesce(list(
        {'optimization_id': optimization_id, 'ran': ran, 'loaded': loaded}
        ORDER BY optimization_id
    ) FILTER (WHERE ran <> loaded)[1:10], []) AS examples,
    count(*) AS reconciled
FROM compared;
