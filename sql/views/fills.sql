-- One row per order event that filled something: status Filled or PartiallyFilled and a
-- non-zero fill quantity. Keys: (project_id, backtest_id, order_id, order_event_id).
-- The notional is |quantity × price × contract multiplier| in the instrument's quote
-- currency, from LEAN's symbol properties (`symbol_properties`, by market, security type and
-- symbol or root, else the market's `[*]` row). A symbol they do not list counts a multiplier
-- of 1 and its order's price currency: `symbol_properties_found` is then false. Fees keep their
-- own currency. Amounts are DECIMAL: sums never show float noise.
CREATE OR REPLACE VIEW fills AS
WITH filled AS (
    SELECT
        e.*,
        o.order_type,
        o.security_type,
        o.market,
        o.price_currency,
        split_part(e.symbol_id, ' ', 1) AS root
    FROM order_events AS e
    JOIN orders AS o USING (backtest_id, order_id)
    WHERE e.status IN ('Filled', 'PartiallyFilled') AND e.fill_quantity <> 0
), properties AS (
    SELECT
        f.*,
        coalesce(exact.contract_multiplier, any_symbol.contract_multiplier) AS multiplier,
        coalesce(exact.quote_currency, any_symbol.quote_currency) AS quote_currency
    FROM filled AS f
    LEFT JOIN symbol_properties AS exact
        ON exact.market = f.market
        AND exact.security_type = f.security_type
        AND exact.symbol = f.root
    LEFT JOIN symbol_properties AS any_symbol
        ON any_symbol.market = f.market
        AND any_symbol.security_type = f.security_type
        AND any_symbol.symbol = '[*]'
)
SELECT
    project_id,
    backtest_id,
    order_id,
    order_event_id,
    symbol,
    symbol_id,
    security_type,
    market,
    order_type,
    event_time,
    direction,
    fill_quantity,  -- signed, as the API gives it: negative for sells
    fill_price,
    coalesce(multiplier, 1) AS contract_multiplier,
    coalesce(quote_currency, nullif(price_currency, ''), nullif(fill_price_currency, ''))
        AS currency,
    CAST(abs(fill_quantity * fill_price * coalesce(multiplier, 1)) AS DECIMAL(38, 8))
        AS notional,
    CAST(coalesce(order_fee_amount, 0) AS DECIMAL(38, 8)) AS fee,  -- 0 when absent
    nullif(order_fee_currency, '') AS fee_currency,
    multiplier IS NOT NULL AS symbol_properties_found
FROM properties;
