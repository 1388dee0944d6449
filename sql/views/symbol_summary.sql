-- Per backtest and symbol: fills, volume, notional and fees, and when it traded.
CREATE OR REPLACE VIEW symbol_summary AS
SELECT
    project_id,
    backtest_id,
    symbol,
    count(*) AS fills,
    count(*) FILTER (WHERE direction = 'Buy') AS buy_fills,
    count(*) FILTER (WHERE direction = 'Sell') AS sell_fills,
    sum(abs(fill_quantity)) AS volume,
    sum(notional) AS notional,
    sum(fee) AS fees,
    min(event_time) AS first_fill_time,
    max(event_time) AS last_fill_time
FROM fills
GROUP BY project_id, backtest_id, symbol;
