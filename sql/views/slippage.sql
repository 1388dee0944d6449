-- Per fill of an order priced when it went to market, against that price: Market,
-- MarketOnOpen and MarketOnClose orders against the quote at submission (the ask for buys,
-- the bid for sells), StopMarket orders against their stop price, where they triggered.
-- Resting orders (limits) are left out: their fills are priced by design. slippage_bps is
-- signed, positive meaning worse for us: a buy above the reference, a sell below it.
CREATE OR REPLACE VIEW slippage AS
WITH referenced AS (
    SELECT
        f.*,
        o.submission_bid_price,
        o.submission_ask_price,
        o.stop_price,
        CASE
            WHEN f.order_type = 'StopMarket' THEN o.stop_price
            WHEN f.direction = 'Buy' THEN o.submission_ask_price
            WHEN f.direction = 'Sell' THEN o.submission_bid_price
        END AS reference_price
    FROM fills AS f
    JOIN orders AS o ON o.backtest_id = f.backtest_id AND o.order_id = f.order_id
    WHERE f.order_type IN ('Market', 'MarketOnOpen', 'MarketOnClose', 'StopMarket')
)
SELECT
    *,
    (fill_price - reference_price) / reference_price * 10000
        * CASE direction WHEN 'Buy' THEN 1 ELSE -1 END AS slippage_bps
FROM referenced
WHERE reference_price IS NOT NULL AND reference_price <> 0;
