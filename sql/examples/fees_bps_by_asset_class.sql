-- Fees in basis points of traded notional, by asset class and currency: what trading costs,
-- instrument by instrument kind. Only fills whose fee is in their notional's currency are
-- compared; the others are counted, never converted silently.
SELECT
    security_type AS asset_class,
    currency,
    count(*) AS fills,
    round(sum(notional) FILTER (WHERE fee_currency = currency), 2) AS notional,
    round(sum(fee) FILTER (WHERE fee_currency = currency), 2) AS fees,
    round(sum(fee) FILTER (WHERE fee_currency = currency)
        / nullif(sum(notional) FILTER (WHERE fee_currency = currency), 0) * 10000, 3)
        AS fees_bps,
    count(*) FILTER (WHERE fee_currency IS DISTINCT FROM currency) AS fills_fee_in_other_currency,
    count(*) FILTER (WHERE NOT symbol_properties_found) AS fills_without_symbol_properties
FROM fills
GROUP BY ALL
ORDER BY asset_class, currency;
