-- Slippage by order type, in basis points against the price each order went to market at
-- (positive: worse for us): do market-on-open and stop orders cost more than market orders?
SELECT
    order_type,
    direction,
    count(*) AS fills,
    round(avg(slippage_bps), 2) AS avg_slippage_bps,
    round(median(slippage_bps), 2) AS median_slippage_bps,
    round(quantile_cont(slippage_bps, 0.95), 2) AS p95_slippage_bps
FROM slippage
GROUP BY ALL
ORDER BY order_type, direction;
