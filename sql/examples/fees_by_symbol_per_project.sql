-- Fees and traded notional by symbol across all backtests of each project: where do the
-- costs of a strategy family go?
SELECT
    p.name AS project,
    s.symbol,
    sum(s.fills) AS fills,
    round(sum(s.notional), 2) AS notional,
    round(sum(s.fees), 2) AS fees,
    round(sum(s.fees) / nullif(sum(s.notional), 0) * 10000, 3) AS fees_bps
FROM symbol_summary s
JOIN projects p USING (project_id)
GROUP BY p.name, s.symbol
ORDER BY fees DESC
LIMIT 20;
