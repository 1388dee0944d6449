-- Per backtest, symbol and currency: fills, volume (in the order's own units), notional in
-- the quote currency, fees in their currency, and when it traded. Amounts in different
-- currencies are never added: a symbol whose fees come in two currencies has a row for each.
CREATE OR REPLACE VIEW symbol_summary AS
SELECT
    project_id,
    backtest_id,
    symbol,
    security_type,
    currency,
    fee_currency,
    count(*) AS fills,
    count(*) FILTER (WHERE direction = 'Buy') AS buy_fills,
    count(*) FILTER (WHERE direction = 'Sell') AS sell_fills,
    sum(abs(fill_quantity)) AS volume,
    sum(notional) AS notional,
    sum(fee) AS fees,
    count(*) FILTER (WHERE NOT symbol_properties_found) AS fills_without_symbol_properties,
    min(event_time) AS first_fill_time,
    max(event_time) AS last_fill_time
FROM fills
GROUP BY ALL;
