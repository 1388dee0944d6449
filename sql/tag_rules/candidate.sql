-- Backtests that should carry the tag `candidate`: a Sharpe ratio above 1.5 and a drawdown
-- under 10 %, finished and still listed upstream. The asset `backtest_tag_rules` adds the tag
-- to these and removes it from every other backtest; it never touches any other tag.
SELECT backtest_id
FROM backtest_summary
WHERE sharpe_ratio > 1.5 AND drawdown_pct < 10 AND status LIKE 'Completed%'
