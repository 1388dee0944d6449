-- One row per order event that filled something: status Filled or PartiallyFilled and a
-- non-zero fill quantity. Keys: (project_id, backtest_id, order_id, order_event_id).
CREATE OR REPLACE VIEW fills AS
SELECT
    project_id,
    backtest_id,
    order_id,
    order_event_id,
    symbol,
    event_time,
    direction,
    fill_quantity,  -- signed, as the API gives it: negative for sells
    fill_price,
    abs(fill_quantity * fill_price) AS notional,
    coalesce(order_fee_amount, 0) AS fee
FROM order_events
WHERE status IN ('Filled', 'PartiallyFilled') AND fill_quantity <> 0;
