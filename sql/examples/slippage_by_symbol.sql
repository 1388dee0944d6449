-- Average and worst slippage per symbol and order type against the price the order went to
-- market at (the quote at submission; a stop's stop price), in basis points (positive: worse
-- for us). Are some symbols systematically expensive to trade?
SELECT
    symbol,
    order_type,
    count(*) AS fills,
    round(avg(slippage_bps), 2) AS avg_slippage_bps,
    round(quantile_cont(slippage_bps, 0.95), 2) AS p95_slippage_bps,
    round(max(slippage_bps), 2) AS worst_slippage_bps
FROM slippage
GROUP BY ALL
HAVING count(*) >= 10
ORDER BY avg_slippage_bps DESC;
