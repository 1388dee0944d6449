-- The target statistic of an optimization over two of its parameters, as a pivot table: one
-- row per value of the first parameter, one column per value of the second. It takes the
-- finished optimization with the most ranked backtests among those sweeping two parameters.
WITH swept AS (
    SELECT optimization_id, list(name ORDER BY name) AS names
    FROM optimization_parameters
    WHERE step IS NOT NULL
    GROUP BY optimization_id
    HAVING count(*) = 2
), chosen AS (
    SELECT r.optimization_id, any_value(s.names) AS names
    FROM optimization_results AS r
    JOIN swept AS s USING (optimization_id)
    WHERE r.rank IS NOT NULL AND r.optimization_status IN ('Completed', 'Aborted')
    GROUP BY r.optimization_id
    ORDER BY count(*) DESC, r.optimization_id
    LIMIT 1
), grid AS (
    SELECT
        r.target_statistic,
        c.names[1] || ' = ' || r.parameter_set[c.names[1]] AS first_parameter,
        c.names[2] || ' = ' || r.parameter_set[c.names[2]] AS second_parameter,
        r.target_value
    FROM optimization_results AS r
    JOIN chosen AS c USING (optimization_id)
)
PIVOT grid
ON second_parameter
USING round(max(target_value), 3)
GROUP BY target_statistic, first_parameter
ORDER BY first_parameter;
