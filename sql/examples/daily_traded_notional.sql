-- Traded notional and fees per day and currency across all backtests of a project (here the
-- first by name): how active is the strategy over time?
SELECT
    date_trunc('day', f.event_time) AS day,
    f.currency,
    count(*) AS fills,
    round(sum(f.notional), 2) AS notional,
    round(sum(f.fee) FILTER (WHERE f.fee_currency = f.currency), 2) AS fees_same_currency
FROM fills f
WHERE f.project_id = (SELECT project_id FROM projects ORDER BY name LIMIT 1)
GROUP BY ALL
ORDER BY day, f.currency;
