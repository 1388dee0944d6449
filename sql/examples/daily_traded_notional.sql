-- Traded notional and fees per day across all backtests of a project (here the first by
-- name): how active is the strategy over time?
SELECT
    date_trunc('day', f.event_time) AS day,
    count(*) AS fills,
    round(sum(f.notional), 2) AS notional,
    round(sum(f.fee), 2) AS fees
FROM fills f
WHERE f.project_id = (SELECT project_id FROM projects ORDER BY name LIMIT 1)
GROUP BY day
ORDER BY day;
