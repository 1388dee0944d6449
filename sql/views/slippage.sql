-- Per fill whose order has submission data: the fill price against the quote when the order
-- was submitted, the ask for buys and the bid for sells. slippage_bps is signed, positive
-- meaning worse for us: a buy above the ask, a sell below the bid.
CREATE OR REPLACE VIEW slippage AS
WITH quoted AS (
    SELECT
        f.*,
        o.submission_bid_price,
        o.submission_ask_price,
        CASE f.direction
            WHEN 'Buy' THEN o.submission_ask_price
            WHEN 'Sell' THEN o.submission_bid_price
        END AS reference_price
    FROM fills f
    JOIN orders o ON o.backtest_id = f.backtest_id AND o.order_id = f.order_id
)
SELECT
    *,
    (fill_price - reference_price) / reference_price * 10000
        * CASE direction WHEN 'Buy' THEN 1 ELSE -1 END AS slippage_bps
FROM quoted
WHERE reference_price IS NOT NULL AND reference_price <> 0;
