-- Fees and traded notional by symbol across all backtests of each project: where do the
-- costs of a strategy family go? Notional is in the symbol's quote currency and fees in
-- theirs; the basis points are given only where the two are the same currency.
SELECT
    p.name AS project,
    s.symbol,
    s.currency,
    s.fee_currency,
    sum(s.fills) AS fills,
    round(sum(s.notional), 2) AS notional,
    round(sum(s.fees), 2) AS fees,
    CASE WHEN s.currency = s.fee_currency
        THEN round(sum(s.fees) / nullif(sum(s.notional), 0) * 10000, 3)
    END AS fees_bps
FROM symbol_summary s
JOIN projects p USING (project_id)
GROUP BY p.name, s.symbol, s.currency, s.fee_currency
ORDER BY fees DESC
LIMIT 20;
