-- `qcw plot optimization` and the optimizations asset's picture (pipelines/plots/): an
-- optimization's target statistic over two of the parameters it sweeps, from the view
-- optimization_results (the target statistic's value per backtest and its `parameter_set`).

-- name: latest
-- The latest completed optimization that sweeps two parameters or more and has a backtest
-- with a value of its target statistic.
SELECT o.optimization_id
FROM optimizations AS o
WHERE o.status = 'Completed'
    AND (
        SELECT count(*) FROM optimization_parameters AS p
        WHERE p.optimization_id = o.optimization_id AND p.step IS NOT NULL
    ) >= 2
    AND EXISTS (
        SELECT 1 FROM optimization_results AS r
        WHERE r.optimization_id = o.optimization_id AND r.target_value IS NOT NULL
    )
ORDER BY o.created_at DESC NULLS LAST, o.optimization_id
LIMIT 1;

-- name: optimization
-- The optimization $id: its name, status, target statistic (as LEAN names it in a backtest's
-- statistics, "Sharpe Ratio") and extremum (max or min).
SELECT
    o.optimization_id,
    o.name,
    o.status,
    coalesce(
        (SELECT any_value(r.target_statistic) FROM optimization_results AS r
         WHERE r.optimization_id = o.optimization_id),
        regexp_extract(o.target, '[^.]+$')
    ) AS target_statistic,
    lower(o.extremum) AS extremum
FROM optimizations AS o
WHERE o.optimization_id = $id;

-- name: swept_parameters
-- The parameters the optimization $id sweeps (those with a step; a static one has a value),
-- by name.
SELECT name
FROM optimization_parameters
WHERE optimization_id = $id AND step IS NOT NULL
ORDER BY name;

-- name: results
-- Each backtest of the optimization $id: its parameter set and its target statistic's value
-- (NULL for a backtest that failed or lacks it).
SELECT parameter_set, target_value
FROM optimization_results
WHERE optimization_id = $id
ORDER BY backtest_id;
