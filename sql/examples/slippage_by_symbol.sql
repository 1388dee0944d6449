-- Average and worst slippage per symbol against the quote at submission, in basis points
-- (positive: worse for us). Are some symbols systematically expensive to trade?
SELECT
    symbol,
    count(*) AS fills,
    round(avg(slippage_bps), 2) AS avg_slippage_bps,
    round(quantile_cont(slippage_bps, 0.95), 2) AS p95_slippage_bps,
    round(max(slippage_bps), 2) AS worst_slippage_bps
FROM slippage
GROUP BY symbol
HAVING count(*) >= 10
ORDER BY avg_slippage_bps DESC;
